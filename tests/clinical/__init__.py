"""Tests of the clinical capability."""
