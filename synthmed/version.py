"""synthmed's version, recorded in every generator it saves."""

__version__ = "0.1.0"
