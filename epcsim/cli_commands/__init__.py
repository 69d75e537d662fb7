"""Subcommands of the ``epcsim`` command line, one module each (see :mod:`epcsim.cli`)."""
