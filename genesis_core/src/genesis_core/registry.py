"""What the plugins registered: languages, backends, LLM providers, strategies.

Each `register(cls)` call is validated here (the right base class, a valid
name, the required class attributes, no abstract method left) and stamped
with the distribution that made it. A name claimed twice is refused with an
error naming both distributions.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from genesis_core.backend import Backend
from genesis_core.errors import PluginError
from genesis_core.language import Language
from genesis_core.llm import LLMProvider
from genesis_core.strategy import Strategy


@dataclass(frozen=True)
class Kind:
    """One kind of thing plugins register."""

    key: str  # 'languages'
    singular: str  # 'language'
    hook: str  # 'register_languages'
    base: type
    required: tuple[str, ...]  # class attributes a subclass must set


KINDS: dict[str, Kind] = {
    k.key: k
    for k in (
        Kind("languages", "language", "register_languages", Language, ("name", "extensions", "comment")),
        Kind("backends", "backend", "register_backends", Backend, ("name",)),
        Kind("llm_providers", "LLM provider", "register_llm_providers", LLMProvider, ("name",)),
        Kind("strategies", "strategy", "register_strategies", Strategy, ("name",)),
    )
}

NAME_RE = re.compile(r"^[a-z][a-z0-9_\-]*$")


@dataclass(frozen=True)
class Source:
    """Which distribution and entry point a registration came from."""

    dist: str
    entry_point: str

    def __str__(self) -> str:
        return f"{self.dist} (entry point '{self.entry_point}')"


@dataclass
class Registration:
    kind: Kind
    name: str
    cls: type
    source: Source


@dataclass
class Registry:
    items: dict[str, dict[str, Registration]] = field(default_factory=lambda: {k: {} for k in KINDS})

    def registrar(self, kind: Kind, source: Source) -> Callable[[type], None]:
        """The `register` callback handed to one plugin's registration hook."""

        def register(cls: type) -> None:
            self.add(kind, cls, source)

        return register

    def add(self, kind: Kind, cls: type, source: Source) -> None:
        _validate(kind, cls, source)
        existing = self.items[kind.key].get(cls.name)
        if existing is not None:
            raise PluginError(
                f"The {kind.singular} '{cls.name}' is registered twice: by {existing.source} and by {source}. "
                f"Uninstall one of them, or block one with GENESIS_BLOCK_PLUGINS={source.dist}."
            )
        self.items[kind.key][cls.name] = Registration(kind, cls.name, cls, source)

    def names(self, kind: str) -> list[str]:
        return sorted(self.items[kind])

    def get(self, kind: str, name: str, broken: dict[str, str] | None = None) -> type:
        """The class registered under `name`, or an error listing what exists."""
        found = self.items[kind].get(name)
        if found is not None:
            return found.cls
        k = KINDS[kind]
        known = self.names(kind)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        broken_note = ""
        if broken:
            broken_note = " Some plugins failed to load and may provide it: " + "; ".join(
                f"{dist}: {err}" for dist, err in broken.items()
            ) + "."
        raise PluginError(
            f"No {k.singular} named '{name}' is installed (installed: {', '.join(known) or 'none'}).{hint}{broken_note} "
            f"Install the plugin that provides it (for example `pip install genesis-lang-{name}`) and check `genesis plugins list`."
        )

    def provided_by(self, dist: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for kind, regs in self.items.items():
            names = sorted(r.name for r in regs.values() if r.source.dist == dist)
            if names:
                out[kind] = names
        return out

    def source_of(self, kind: str, name: str) -> Source | None:
        reg = self.items[kind].get(name)
        return reg.source if reg else None


def _validate(kind: Kind, cls: object, source: Source) -> None:
    what = f"{source} passed {cls!r} to register() in {kind.hook}"
    if not isinstance(cls, type) or not issubclass(cls, kind.base):
        raise PluginError(
            f"{what}: expected a subclass of {kind.base.__module__}.{kind.base.__name__}. "
            f"Register the class itself, not an instance or another type."
        )
    missing = [attr for attr in kind.required if not getattr(cls, attr, None)]
    if missing:
        raise PluginError(f"{what}: the class does not set {', '.join(missing)}. Set these class attributes.")
    if not isinstance(cls.name, str) or not NAME_RE.match(cls.name):
        raise PluginError(
            f"{what}: the name {cls.name!r} is not valid; use lowercase letters, digits, '-' and '_', starting with a letter."
        )
    if inspect.isabstract(cls):
        abstract = ", ".join(sorted(cls.__abstractmethods__))  # type: ignore[attr-defined]
        raise PluginError(f"{what}: the class leaves abstract methods unimplemented: {abstract}.")
    if kind.key == "languages":
        exts = cls.extensions  # type: ignore[attr-defined]
        if isinstance(exts, str) or not all(isinstance(e, str) and e.startswith(".") for e in exts):
            raise PluginError(f"{what}: extensions must be a tuple of strings like ('.rs',), not {exts!r}.")
        if not isinstance(cls.comment, str) or not cls.comment.strip():  # type: ignore[attr-defined]
            raise PluginError(f"{what}: comment must be the line-comment prefix, like '//' or '#'.")
