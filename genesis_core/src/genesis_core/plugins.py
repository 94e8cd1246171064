"""Finding, loading and calling plugins.

Plugins are modules named by entry points in the group `genesis`. genesis-core
registers its own built-ins through the same entry points, so they are
listed, blockable and replaceable alike.

Loading control, from the environment:

- GENESIS_LOAD_PLUGINS: comma-separated distribution names to load besides the
  built-ins of genesis-core; set but empty means the built-ins only.
- GENESIS_BLOCK_PLUGINS: comma-separated distribution names (`genesis-lang-rust`)
  or single entry points (`genesis-core:local`) never to load.
- GENESIS_TRACE_HOOKS=1: print every hook call to standard error.

A plugin that fails to import, or implements a hook that does not exist, is
recorded as broken with its reason and skipped; it never takes the CLI down.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from genesis_core import hookspecs
from genesis_core.errors import PluginError
from genesis_core.registry import KINDS, Registry, Source

CORE_DIST = "genesis-core"


def canonical(name: str) -> str:
    """Distribution names compare like pip compares them."""
    return name.strip().lower().replace("_", "-").replace(".", "-")


@dataclass
class PluginInfo:
    """One entry point of the group `genesis` and what became of it."""

    dist: str
    version: str
    entry_point: str
    module: str
    builtin: bool
    status: str = "ok"  # ok | broken | blocked | not-loaded
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    plugin: Any = None

    @property
    def source(self) -> Source:
        return Source(self.dist, self.entry_point)


def _hook_names() -> list[str]:
    return [n for n in dir(hookspecs) if n.startswith(("register_", "on_")) and callable(getattr(hookspecs, n))]


class PluginHost:
    """The plugin manager of one process, with what each plugin provides."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self._registry: Registry | None = None
        self.registration_errors: list[str] = []
        self.commands_by_dist: dict[str, list[str]] = {}
        self._load_env = environ.get("GENESIS_LOAD_PLUGINS")
        self._blocked = {canonical(b) for b in environ.get("GENESIS_BLOCK_PLUGINS", "").split(",") if b.strip()}
        if environ.get("GENESIS_TRACE_HOOKS", "").lower() in {"1", "true", "yes", "on"}:
            self.pm.trace.root.setwriter(lambda text: sys.stderr.write(f"[genesis hook] {text}"))
            self.pm.enable_tracing()

    # -- loading -------------------------------------------------------------

    def load_entry_points(self) -> None:
        from importlib_metadata import entry_points

        wanted = None
        if self._load_env is not None:
            wanted = {canonical(n) for n in self._load_env.split(",") if n.strip()}
        for ep in sorted(entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=lambda e: (e.dist.name if e.dist else "", e.name)):
            dist = ep.dist.name if ep.dist else "unknown"
            info = PluginInfo(
                dist=canonical(dist),
                version=ep.dist.version if ep.dist else "",
                entry_point=ep.name,
                module=ep.value,
                builtin=canonical(dist) == CORE_DIST,
            )
            self.plugins.append(info)
            if info.dist in self._blocked or f"{info.dist}:{ep.name}" in self._blocked:
                info.status = "blocked"
                continue
            if wanted is not None and not info.builtin and info.dist not in wanted:
                info.status = "not-loaded"
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a plugin's import error is its own, reported by name
                self._mark_broken(info, f"{type(exc).__name__}: {exc}")
                continue
            self.add_plugin(info, module)

    def add_plugin(self, info: PluginInfo, plugin: Any) -> None:
        """Register one loaded plugin object; a bad hook marks it broken."""
        if info not in self.plugins:
            self.plugins.append(info)
        name = f"{info.dist}:{info.entry_point}"
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            self._mark_broken(info, f"{type(exc).__name__}: {exc}")
            return
        unknown = self._unknown_hooks(plugin)
        if unknown:
            self.pm.unregister(plugin)
            self._mark_broken(info, "; ".join(unknown))
            return
        info.plugin = plugin
        info.hooks = sorted({caller.name for caller in self.pm.get_hookcallers(plugin) or []})
        self._registry = None

    def _unknown_hooks(self, plugin: Any) -> list[str]:
        """Implementations of hooks that do not exist (pluggy's check_pending, per plugin)."""
        known = _hook_names()
        problems = []
        for caller in self.pm.get_hookcallers(plugin) or []:
            if caller.spec is None:
                close = difflib.get_close_matches(caller.name, known, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f"; the hooks are {', '.join(known)}"
                problems.append(f"it implements the hook '{caller.name}', which does not exist{hint}")
        return problems

    def _mark_broken(self, info: PluginInfo, reason: str) -> None:
        info.status = "broken"
        info.error = reason

    def check_pending(self) -> None:
        """Raise if any registered implementation has no matching hook (after every load)."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"A plugin implements a hook that does not exist: {exc}") from None

    # -- what is loaded --------------------------------------------------------

    @property
    def loaded(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.status == "ok"]

    @property
    def broken(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.status == "broken"]

    def load_errors(self) -> list[str]:
        return [f"Error loading plugin '{p.dist}' (entry point '{p.entry_point}'): {p.error}" for p in self.broken]

    def _call_each(self, hook_name: str, **kwargs: Any):
        """Call a hook plugin by plugin, so each result can be attributed to its source."""
        plugins = {p.plugin: p for p in self.loaded if hook_name in p.hooks}
        for plugin, info in plugins.items():
            others = [p.plugin for p in self.loaded if p.plugin is not plugin]
            caller = self.pm.subset_hook_caller(hook_name, remove_plugins=others)
            yield info, caller, kwargs

    @property
    def registry(self) -> Registry:
        """Everything registered, built on first use (one pass over the registration hooks)."""
        if self._registry is None:
            registry = Registry()
            for kind in KINDS.values():
                for info, caller, _ in self._call_each(kind.hook):
                    try:
                        caller(register=registry.registrar(kind, info.source))
                    except PluginError as exc:
                        self._conflict(info, str(exc))
                    except Exception as exc:
                        self._conflict(info, f"{kind.hook} raised {type(exc).__name__}: {exc}")
            self._registry = registry
        return self._registry

    def _conflict(self, info: PluginInfo, reason: str) -> None:
        info.status = "broken"
        info.error = reason
        self.registration_errors.append(reason)

    def raise_for_registration_errors(self) -> None:
        """Commands that use plugins refuse to go on with a conflict or invalid registration."""
        self.registry  # noqa: B018 - building it records the errors
        if self.registration_errors:
            raise PluginError(" ".join(self.registration_errors))

    def get(self, kind: str, name: str) -> type:
        self.raise_for_registration_errors()
        broken = {p.dist: p.error or "" for p in self.broken}
        return self.registry.get(kind, name, broken)

    def add_commands(self, cli: Any) -> dict[str, list[str]]:
        """Let plugins add their click commands; returns dist -> command names."""
        added: dict[str, list[str]] = {}
        for info, caller, _ in self._call_each("register_commands"):
            before = set(cli.commands)
            try:
                caller(cli=cli)
            except Exception as exc:
                self._mark_broken(info, f"register_commands raised {type(exc).__name__}: {exc}")
                continue
            new = sorted(set(cli.commands) - before)
            added.setdefault(info.dist, []).extend(new)
        self.commands_by_dist = added
        return added

    def emit(self, event: dict[str, Any]) -> None:
        """Pass a run event to every `on_event` observer; an observer's failure is not the run's."""
        for impl in self.pm.hook.on_event.get_hookimpls():
            try:
                impl.function(event=event)
            except Exception as exc:  # an observer must never stop a run
                print(f"genesis: event observer {impl.plugin_name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loading entry points on first use."""
    global _HOST
    if _HOST is None:
        host = PluginHost()
        host.load_entry_points()
        _HOST = host
    return _HOST


def reset_host() -> None:
    """Forget the loaded plugins (tests, and after installing a plugin in-process)."""
    global _HOST
    _HOST = None
    importlib.invalidate_caches()
