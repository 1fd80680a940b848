"""Tests of the clinical engine (no database)."""
