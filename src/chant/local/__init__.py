"""The in-process executor."""
