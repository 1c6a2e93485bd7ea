"""chant's version, in one place: hatch reads it for the package metadata, ``chant
--version`` prints it, and ``chant.__version__`` re-exports it."""

__version__ = "0.2.0.dev0"
