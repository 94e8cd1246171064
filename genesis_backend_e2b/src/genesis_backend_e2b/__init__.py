"""Genesis backend that runs evaluation jobs in E2B sandboxes."""

__version__ = "0.1.0"
