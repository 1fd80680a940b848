"""Tests of the manufacturing capability."""
