"""The core `genesis` commands, one module each."""
