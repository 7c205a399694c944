"""exca: pydantic-configured pipeline steps cached in a content-addressed artifact store."""

__version__ = "0.7.0.dev0"
