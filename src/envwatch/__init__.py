"""envwatch: pollution-source automatic monitoring and monitoring-service supervision platform."""

__version__ = "0.1.0"
