"""Genesis plugin: a local web UI for watching runs live and looking back at them."""

__version__ = "0.1.0"
