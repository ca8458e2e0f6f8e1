"""Tests of envwatch.alarms."""
