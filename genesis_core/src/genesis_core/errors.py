"""Errors the user can act on.

A `GenesisError` is part of the interface: its message says what was expected,
what was found and what to do. The CLI prints it as one paragraph and exits
with code 2, with no traceback unless `--debug` is given.
"""


class GenesisError(Exception):
    """A problem the user can fix (bad input, missing tool, bad plugin)."""

    exit_code = 2


class ConfigError(GenesisError):
    """The configuration (genesis.toml, -s overrides, GENESIS_* variables) is invalid."""


class PluginError(GenesisError):
    """A plugin is broken, conflicts with another, or registered something invalid."""


class TaskError(GenesisError):
    """The task folder is incomplete or inconsistent (markers, evaluator, program)."""
