"""``python -m envwatch.cli``: the same command line as ``envwatch`` (the benchmark and crash tests use it)."""

from envwatch.cli import app

app()
