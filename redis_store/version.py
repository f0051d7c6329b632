"""The package's version, in a module of its own: ``pyproject.toml`` reads it from here
without importing the package, and ``--version`` and the tracer scope report it."""

__version__ = "0.1.0"
