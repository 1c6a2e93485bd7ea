"""``python -m chant``: the same as the ``chant`` command."""

from chant.cli.main import entrypoint

entrypoint()
