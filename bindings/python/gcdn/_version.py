"""The version of the gcdn Python package (that of the C library it was written for)."""

__version__ = "0.1.0"
