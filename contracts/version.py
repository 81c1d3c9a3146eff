"""The toolkit's version: one value for every CLI's ``--version`` and for the package metadata."""

__version__ = "0.2.0"
