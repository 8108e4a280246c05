"""flora-cli: a command-line client for FLORA's generation API."""

__version__ = "0.1.0"
