"""spaceflights: a small Kedro project that kedro-sfn's demo and tests deploy."""

__version__ = "0.1"
