"""Genesis plugin: ClickHouse SQL over run events, and shipping them to a ClickHouse server."""

__version__ = "0.1.0"
