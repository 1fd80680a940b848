"""OpenCXO."""
