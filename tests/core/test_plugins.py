"""Plugin loading as a user sees it: `genesis plugins list`, broken plugins,
conflicts, misspelled hooks, loading control and tracing.

Each fake plugin is a real distribution: a module plus a `.dist-info` folder
with its entry points, put on PYTHONPATH of a real `genesis` subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def make_dist(root: Path, dist: str, module: str, source: str, *, version: str = "1.2.3", ep_name: str | None = None) -> None:
    """Write an installed distribution `dist` whose entry point loads `module`."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[genesis]\n{ep_name or module} = {module}\n")


LANGUAGE_PLUGIN = """
from genesis_core.hookspecs import hookimpl
from genesis_core.language import Language, BuildResult

class {cls}(Language):
    name = "{lang}"
    extensions = (".{ext}",)
    comment = "--"
    toolchain = ("cat",)

    def build(self, ctx):
        return BuildResult(ok=True, artifact=ctx.main_file)

    def run_command(self, artifact, args=()):
        return ["sh", artifact, *args]

@hookimpl
def register_languages(register):
    register({cls})
"""


@pytest.fixture
def plugin_env(tmp_path):
    """Environment putting the fake distributions under tmp_path/site on the path."""
    site = tmp_path / "site"
    site.mkdir()
    return site, {"PYTHONPATH": str(site)}


def plugins_json(genesis_cli, env, *extra):
    result = genesis_cli(["plugins", "list", "--json", "--all", *extra], env=env)
    assert result.returncode == 0, result
    return {row["name"]: row for row in json.loads(result.stdout)}, result


def test_builtins_are_listed_only_with_all(genesis_cli):
    result = genesis_cli(["plugins", "list", "--json"])
    assert result.returncode == 0, result
    names = [row["name"] for row in json.loads(result.stdout)]
    assert "genesis-core" not in names
    rows, _ = plugins_json(genesis_cli, {})
    core = rows["genesis-core"]
    assert core["builtin"] is True
    assert core["status"] == "ok", core["error"]
    assert "register_languages" in core["hooks"]


def test_hook_register_languages(genesis_cli, plugin_env):
    site, env = plugin_env
    make_dist(site, "genesis-lang-lua", "genesis_lang_lua", LANGUAGE_PLUGIN.format(cls="Lua", lang="lua", ext="lua"))
    rows, _ = plugins_json(genesis_cli, env)
    row = rows["genesis-lang-lua"]
    assert row["version"] == "1.2.3"
    assert row["status"] == "ok"
    assert row["provides"] == {"languages": ["lua"]}
    assert row["hooks"] == ["register_languages"]
    text = genesis_cli(["plugins", "list"], env=env)
    assert "genesis-lang-lua 1.2.3" in text.stdout
    assert "languages: lua" in text.stdout


def test_broken_plugin_is_reported_and_cli_keeps_working(genesis_cli, plugin_env):
    site, env = plugin_env
    make_dist(site, "genesis-broken", "genesis_broken", "raise RuntimeError('boom at import')\n", ep_name="broken")
    rows, result = plugins_json(genesis_cli, env)
    assert rows["genesis-broken"]["status"] == "broken"
    assert "boom at import" in rows["genesis-broken"]["error"]
    assert "Error loading plugin 'genesis-broken' (entry point 'broken'): RuntimeError: boom at import" in result.stderr
    for args in (["--help"], ["--version"], ["config", "schema"], ["doctor"]):
        other = genesis_cli(args, env=env)
        assert other.returncode == 0, (args, other)
    text = genesis_cli(["plugins", "list"], env=env)
    assert "[BROKEN]" in text.stdout and "boom at import" in text.stdout


def test_same_language_twice_names_both_distributions(genesis_cli, plugin_env):
    site, env = plugin_env
    make_dist(site, "genesis-lua-one", "lua_one", LANGUAGE_PLUGIN.format(cls="LuaA", lang="lua", ext="lua"))
    make_dist(site, "genesis-lua-two", "lua_two", LANGUAGE_PLUGIN.format(cls="LuaB", lang="lua", ext="lua"))
    rows, _ = plugins_json(genesis_cli, env)
    error = rows["genesis-lua-two"]["error"]
    assert "The language 'lua' is registered twice" in error
    assert "genesis-lua-one" in error and "genesis-lua-two" in error
    # doctor reports the conflict; code that uses the language gets the same error.
    result = genesis_cli(["doctor"], env=env)
    assert "registered twice" in result.stdout + result.stderr
    probe = (
        "from genesis_core.plugins import get_host\n"
        "from genesis_core.errors import PluginError\n"
        "try:\n    get_host().get('languages', 'lua')\nexcept PluginError as e:\n    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env={**os.environ, **env})
    assert "ERR The language 'lua' is registered twice" in out.stdout, out


def test_misspelled_hook_is_an_error_naming_plugin_and_hook(genesis_cli, plugin_env):
    site, env = plugin_env
    make_dist(
        site,
        "genesis-typo",
        "genesis_typo",
        """
        from genesis_core.hookspecs import hookimpl

        @hookimpl
        def register_langauges(register):
            pass
        """,
    )
    rows, result = plugins_json(genesis_cli, env)
    row = rows["genesis-typo"]
    assert row["status"] == "broken"
    assert "register_langauges" in row["error"] and "did you mean 'register_languages'" in row["error"]
    assert "Error loading plugin 'genesis-typo'" in result.stderr


def test_invalid_registration_is_refused(genesis_cli, plugin_env):
    site, env = plugin_env
    make_dist(
        site,
        "genesis-bad-lang",
        "genesis_bad_lang",
        """
        from genesis_core.hookspecs import hookimpl

        class NotALanguage:
            name = "nope"

        @hookimpl
        def register_languages(register):
            register(NotALanguage)
        """,
    )
    rows, _ = plugins_json(genesis_cli, env)
    assert "expected a subclass of genesis_core.language.Language" in rows["genesis-bad-lang"]["error"]


def test_block_and_load_control(genesis_cli, plugin_env):
    site, env = plugin_env
    make_dist(site, "genesis-lang-lua", "genesis_lang_lua", LANGUAGE_PLUGIN.format(cls="Lua", lang="lua", ext="lua"))
    make_dist(site, "genesis-lang-tcl", "genesis_lang_tcl", LANGUAGE_PLUGIN.format(cls="Tcl", lang="tcl", ext="tcl"))

    rows, _ = plugins_json(genesis_cli, {**env, "GENESIS_BLOCK_PLUGINS": "genesis-lang-lua"})
    assert rows["genesis-lang-lua"]["status"] == "blocked"
    assert rows["genesis-lang-tcl"]["status"] == "ok"

    rows, _ = plugins_json(genesis_cli, {**env, "GENESIS_LOAD_PLUGINS": "genesis-lang-tcl"})
    assert rows["genesis-lang-lua"]["status"] == "not-loaded"
    assert rows["genesis-lang-tcl"]["status"] == "ok"
    assert all(e["status"] != "not-loaded" for e in rows["genesis-core"]["entry_points"])

    rows, _ = plugins_json(genesis_cli, {**env, "GENESIS_LOAD_PLUGINS": ""})
    assert rows["genesis-lang-lua"]["status"] == "not-loaded"
    assert rows["genesis-lang-tcl"]["status"] == "not-loaded"

    # A single built-in entry point can be blocked like any plugin.
    rows, _ = plugins_json(genesis_cli, {"GENESIS_BLOCK_PLUGINS": "genesis-core:python"})
    entry = {e["name"]: e for e in rows["genesis-core"]["entry_points"]}
    assert entry["python"]["status"] == "blocked"
    assert "python" not in rows["genesis-core"]["provides"].get("languages", [])


def test_a_plugin_can_replace_a_builtin(genesis_cli, plugin_env):
    site, env = plugin_env
    make_dist(site, "genesis-my-python", "my_python", LANGUAGE_PLUGIN.format(cls="MyPython", lang="python", ext="py"))
    rows, _ = plugins_json(genesis_cli, {**env, "GENESIS_BLOCK_PLUGINS": "genesis-core:python"})
    assert rows["genesis-my-python"]["provides"] == {"languages": ["python"]}
    assert rows["genesis-my-python"]["status"] == "ok"


def test_hook_filter(genesis_cli, plugin_env):
    site, env = plugin_env
    make_dist(site, "genesis-lang-lua", "genesis_lang_lua", LANGUAGE_PLUGIN.format(cls="Lua", lang="lua", ext="lua"))
    rows, _ = plugins_json(genesis_cli, env, "--hook", "register_backends")
    assert "genesis-lang-lua" not in rows
    rows, _ = plugins_json(genesis_cli, env, "--hook", "register_languages")
    assert "genesis-lang-lua" in rows


def test_trace_prints_hook_calls(genesis_cli, plugin_env):
    site, env = plugin_env
    make_dist(site, "genesis-lang-lua", "genesis_lang_lua", LANGUAGE_PLUGIN.format(cls="Lua", lang="lua", ext="lua"))
    result = genesis_cli(["plugins", "list"], env={**env, "GENESIS_TRACE_HOOKS": "1"})
    assert result.returncode == 0, result
    assert "[genesis hook]" in result.stderr
    assert "register_languages" in result.stderr


def test_hook_register_commands(genesis_cli, plugin_env):
    site, env = plugin_env
    make_dist(
        site,
        "genesis-hello",
        "genesis_hello",
        """
        import click
        from genesis_core.hookspecs import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command()
            def hello():
                "Say hello."
                click.echo("hello from a plugin")
        """,
    )
    rows, _ = plugins_json(genesis_cli, env)
    assert rows["genesis-hello"]["provides"] == {"commands": ["hello"]}
    result = genesis_cli(["hello"], env=env)
    assert result.stdout.strip() == "hello from a plugin"


def test_cli_start_does_not_import_heavy_sdks(genesis_cli):
    """`genesis --help` stays fast: plugin modules import their SDKs lazily."""
    code = (
        "import sys\n"
        "from genesis_core.cli import main\n"
        "try:\n    main(['plugins', 'list', '--all'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('openai', 'anthropic', 'e2b', 'submitit', 'sqlalchemy', 'numpy', 'starlette', 'uvicorn', 'chdb', 'playwright') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


KIND_PLUGINS = {
    "register_backends": ("genesis-backend-null", "backends", """
        from genesis_core.backend import Backend
        from genesis_core.job import JobResult, FailureReason

        class NullBackend(Backend):
            name = "null"
            async def submit(self, job):
                return job.id
            async def wait(self, handle):
                return JobResult.failed(handle, FailureReason.BACKEND_ERROR, "null backend runs nothing")
            async def cancel(self, handle):
                return None
            def capacity(self):
                return 1
    """, "NullBackend"),
    "register_llm_providers": ("genesis-llm-null", "llm_providers", """
        from genesis_core.llm import LLMProvider, Completion

        class NullProvider(LLMProvider):
            name = "null"
            async def complete(self, request):
                return Completion(text="", model=request.model)
    """, "NullProvider"),
    "register_strategies": ("genesis-strategy-null", "strategies", """
        from genesis_core.strategy import Strategy, Selection

        class NullStrategy(Strategy):
            name = "null"
            def add(self, program):
                pass
            def select(self):
                return Selection(parent_id=None, inspiration_ids=[], island=0)
    """, "NullStrategy"),
}


def _kind_plugin(site, hook):
    dist, kind, body, cls = KIND_PLUGINS[hook]
    module = dist.replace("-", "_")
    source = "from genesis_core.hookspecs import hookimpl\n" + textwrap.dedent(body) + f"\n@hookimpl\ndef {hook}(register):\n    register({cls})\n"
    make_dist(site, dist, module, source)
    return dist, kind


def test_hook_register_backends(genesis_cli, plugin_env):
    site, env = plugin_env
    dist, kind = _kind_plugin(site, "register_backends")
    rows, _ = plugins_json(genesis_cli, env)
    assert rows[dist]["provides"] == {kind: ["null"]}


def test_hook_register_llm_providers(genesis_cli, plugin_env):
    site, env = plugin_env
    dist, kind = _kind_plugin(site, "register_llm_providers")
    rows, _ = plugins_json(genesis_cli, env)
    assert rows[dist]["provides"] == {kind: ["null"]}


def test_hook_register_strategies(genesis_cli, plugin_env):
    site, env = plugin_env
    dist, kind = _kind_plugin(site, "register_strategies")
    rows, _ = plugins_json(genesis_cli, env)
    assert rows[dist]["provides"] == {kind: ["null"]}


def test_hook_on_event(plugin_env, tmp_path):
    """Observers get every event; one that raises does not stop the others."""
    site, env = plugin_env
    log = tmp_path / "seen.txt"
    make_dist(site, "genesis-observer", "genesis_observer", f"""
        from genesis_core.hookspecs import hookimpl

        @hookimpl
        def on_event(event):
            with open({str(log)!r}, "a") as f:
                f.write(event["kind"] + "\\n")
    """)
    make_dist(site, "genesis-bad-observer", "genesis_bad_observer", """
        from genesis_core.hookspecs import hookimpl

        @hookimpl
        def on_event(event):
            raise ValueError("observer bug")
    """)
    probe = (
        "from genesis_core.plugins import get_host\n"
        "host = get_host()\n"
        "host.emit({'ts': 0, 'run_id': 'r', 'generation': 1, 'kind': 'program_evaluated'})\n"
        "host.emit({'ts': 1, 'run_id': 'r', 'generation': 2, 'kind': 'run_finished'})\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    assert log.read_text().split() == ["program_evaluated", "run_finished"]
    assert "observer bug" in out.stderr
