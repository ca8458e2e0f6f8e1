"""Tests of envwatch.operations (运维)."""
