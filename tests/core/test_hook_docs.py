"""Every hook is documented with its exact signature and has a test (datasette's rule)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from genesis_core import hookspecs

REPO = Path(__file__).resolve().parents[2]
HOOKS = [
    name
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(fn, f"{hookspecs.PROJECT}_spec")
]


def test_there_are_hooks():
    assert set(HOOKS) >= {
        "register_languages",
        "register_backends",
        "register_llm_providers",
        "register_strategies",
        "register_commands",
        "on_event",
    }


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_its_signature(hook):
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    docs = (REPO / "docs" / "plugins.md").read_text()
    assert f"### `{hook}({params})`" in docs, f"docs/plugins.md has no '### `{hook}({params})`' section"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook):
    pattern = re.compile(rf"^def test_hook_{hook}\b", re.MULTILINE)
    found = [p for p in (REPO / "tests").rglob("test_*.py") if pattern.search(p.read_text())]
    assert found, f"no test named test_hook_{hook} under tests/"
