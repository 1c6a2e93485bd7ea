"""The command line: a thin adapter over library functions. See ``main``."""
