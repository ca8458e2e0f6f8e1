"""Quarterly self-inspection report pages (SX-18.7)."""
