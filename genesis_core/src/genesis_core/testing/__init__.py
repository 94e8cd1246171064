"""Conformance suites for plugin authors, and loopback test servers.

A plugin's tests subclass the suite for what it provides, naming its class::

    from genesis_core.testing import LanguagePluginTests

    class TestZig(LanguagePluginTests):
        language_class = ZigLanguage
        ...

First-party plugins are tested the same way. The suites import pytest, so
they are loaded only when asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUITES = {
    "LanguagePluginTests": "genesis_core.testing.languages",
    "BackendPluginTests": "genesis_core.testing.backends",
    "ProviderPluginTests": "genesis_core.testing.providers",
    "StrategyPluginTests": "genesis_core.testing.strategies",
    "MockLLMServer": "genesis_core.testing.mock_llm",
}

__all__ = list(_SUITES)


def __getattr__(name: str) -> Any:
    if name in _SUITES:
        return getattr(importlib.import_module(_SUITES[name]), name)
    raise AttributeError(f"module 'genesis_core.testing' has no attribute {name!r}")
