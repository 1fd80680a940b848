"""Tests of the manufacturing scheduling engine (no database)."""
