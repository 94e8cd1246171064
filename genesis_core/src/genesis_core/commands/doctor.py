"""`genesis doctor`: what this machine can do for Genesis."""

from __future__ import annotations

import json
import os

import click

from genesis_core.plugins import get_host

# Variables the built-in providers read, besides those plugins declare.
KNOWN_KEY_VARIABLES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "DEEPSEEK_API_KEY",
    "GEMINI_API_KEY",
    "OPENROUTER_API_KEY",
    "E2B_API_KEY",
)


def diagnose() -> dict:
    """Toolchains per language, API keys set (never their values), backends, sandbox."""
    host = get_host()
    registry = host.registry
    report: dict = {"languages": {}, "api_keys": {}, "backends": {}, "sandbox": {}, "plugin_errors": host.load_errors()}
    for name in registry.names("languages"):
        language = registry.get("languages", name)()
        report["languages"][name] = {
            "needs_gpu": language.needs_gpu,
            "toolchain": language.toolchain_versions(),
        }
    key_vars = set(KNOWN_KEY_VARIABLES)
    for name in registry.names("llm_providers"):
        if env := registry.get("llm_providers", name).api_key_env:
            key_vars.add(env)
    report["api_keys"] = {var: bool(os.environ.get(var)) for var in sorted(key_vars)}
    for name in registry.names("backends"):
        try:
            problem = registry.get("backends", name)().check()
        except Exception as exc:  # a backend that cannot even be set up is what doctor is for
            problem = f"{type(exc).__name__}: {exc}"
        report["backends"][name] = {"usable": problem is None, "reason": problem}
    try:
        from genesis_core.sandbox import protections
    except ImportError:
        report["sandbox"] = {}
    else:
        report["sandbox"] = {p.name: {"active": p.active, "detail": p.detail} for p in protections()}
    return report


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def doctor(as_json: bool) -> None:
    """Check toolchains, API keys, backends and sandbox protections."""
    report = diagnose()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo("Languages:")
    for name, lang in report["languages"].items():
        gpu = " (needs a GPU to run)" if lang["needs_gpu"] else ""
        click.echo(f"  {name}{gpu}")
        for exe, version in lang["toolchain"].items():
            click.echo(f"    {exe}: {version or 'NOT FOUND on PATH'}")
    click.echo("API keys (set or not; values are never shown):")
    for var, present in report["api_keys"].items():
        click.echo(f"  {var}: {'set' if present else 'not set'}")
    click.echo("Backends:")
    for name, b in report["backends"].items():
        click.echo(f"  {name}: {'usable' if b['usable'] else 'not usable: ' + str(b['reason'])}")
    if report["sandbox"]:
        click.echo("Sandbox protections:")
        for name, p in report["sandbox"].items():
            click.echo(f"  {name}: {'active' if p['active'] else 'NOT active'} ({p['detail']})")
    for line in report["plugin_errors"]:
        click.echo(line)
