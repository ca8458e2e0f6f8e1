"""Alarms (报警): detectors, the offline watcher, the alarm lifecycle, notifications and supervision orders."""
