"""stagectl: take a service stack into staging and prove it works."""

__version__ = "0.1.0"
