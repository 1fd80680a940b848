"""The web UI's shared parts: layout, rendering, error pages, static assets."""
