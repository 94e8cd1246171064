"""Configuration as a user meets it: genesis.toml, GENESIS_* variables, -s overrides, and errors."""

from __future__ import annotations

import json

import pytest
from genesis_core.backend import BackendSettings
from genesis_core.config import load_config, plugin_settings
from genesis_core.errors import ConfigError


def write_task(tmp_path, text: str):
    (tmp_path / "genesis.toml").write_text(text)
    return tmp_path


def test_file_then_environment_then_overrides(tmp_path):
    task = write_task(tmp_path, "[run]\nmax_evaluations = 10\nseed = 1\n[llm]\nmodels = ['openai:gpt-5-mini']\n")
    config = load_config(task, ["run.seed=7", "llm.temperature=[0.2, 0.9]"], environ={"GENESIS_RUN__MAX_EVALUATIONS": "25"})
    assert config.run.max_evaluations == 25
    assert config.run.seed == 7
    assert config.llm.temperature == [0.2, 0.9]
    assert config.llm.models == ["openai:gpt-5-mini"]
    assert config.task.name == tmp_path.name


def test_unknown_key_names_file_line_and_suggestion(tmp_path):
    task = write_task(tmp_path, "[task]\nlanguage = 'python'\n\n[run]\nmax_evals = 10\n")
    with pytest.raises(ConfigError) as info:
        load_config(task, environ={})
    message = str(info.value)
    assert "Unknown configuration key 'run.max_evals'" in message
    assert "genesis.toml line 5" in message
    assert "Did you mean 'run.max_evaluations'?" in message


def test_unknown_section_is_an_error(tmp_path):
    task = write_task(tmp_path, "[runn]\nseed = 1\n")
    with pytest.raises(ConfigError, match="Unknown configuration key 'runn'.*Did you mean 'run'"):
        load_config(task, environ={})


def test_wrong_type_says_what_was_expected(tmp_path):
    task = write_task(tmp_path, "[run]\nmax_evaluations = 'ten'\n")
    with pytest.raises(ConfigError) as info:
        load_config(task, environ={})
    assert "Bad value for 'run.max_evaluations'" in str(info.value)
    assert "integer" in str(info.value)
    assert "'ten'" in str(info.value)


def test_override_and_environment_errors_name_their_origin(tmp_path):
    task = write_task(tmp_path, "")
    with pytest.raises(ConfigError, match="option -s run.seeed=3.*Did you mean 'run.seed'"):
        load_config(task, ["run.seeed=3"], environ={})
    with pytest.raises(ConfigError, match="environment variable GENESIS_RUN__MAX_EVALUATIONS"):
        load_config(task, environ={"GENESIS_RUN__MAX_EVALUATIONS": "lots"})
    with pytest.raises(ConfigError, match="not of the form section.key=value"):
        load_config(task, ["seed"], environ={})


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="No configuration file.*genesis init"):
        load_config(tmp_path / "nowhere", environ={})
    task = write_task(tmp_path, "[run\nseed = 1\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(task, environ={})


def test_plugin_sub_tables_are_validated_by_the_plugin(tmp_path):
    class LocalSettings(BackendSettings):
        max_jobs: int = 2

    task = write_task(tmp_path, "[backend]\nname = 'local'\n[backend.local]\nmax_job = 3\n")
    config = load_config(task, environ={})
    with pytest.raises(ConfigError, match="Unknown configuration key 'backend.local.max_job'.*Did you mean 'backend.local.max_jobs'"):
        plugin_settings(config, "backend", "local", LocalSettings)
    good = load_config(task, ["backend.local={max_jobs = 3}"], environ={})
    assert plugin_settings(good, "backend", "local", LocalSettings).max_jobs == 3


def test_cli_bad_config_is_one_paragraph_exit_2(genesis_cli, tmp_path):
    write_task(tmp_path, "[run]\nmax_evals = 10\n")
    result = genesis_cli(["config", "show", str(tmp_path)])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("Error loading plugin")]
    assert len(lines) == 1 and lines[0].startswith("Error: Unknown configuration key 'run.max_evals'")
    debug = genesis_cli(["--debug", "config", "show", str(tmp_path)])
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_cli_config_show_and_schema(genesis_cli, tmp_path):
    write_task(tmp_path, "[run]\nmax_evaluations = 10\n")
    shown = genesis_cli(["config", "show", str(tmp_path), "-s", "run.seed=4"])
    assert shown.returncode == 0, shown
    data = json.loads(shown.stdout)
    assert data["run"]["max_evaluations"] == 10 and data["run"]["seed"] == 4
    schema = json.loads(genesis_cli(["config", "schema"]).stdout)
    assert "max_evaluations" in json.dumps(schema)


def test_override_keys_may_be_quoted(tmp_path):
    task = write_task(tmp_path, "")
    config = load_config(task, ['llm.prices."mock:m".input_per_mtok=1.5', 'llm.prices."mock:m".output_per_mtok=2'], environ={})
    assert config.llm.prices["mock:m"].input_per_mtok == 1.5
    with pytest.raises(ConfigError, match="does not start with a valid key"):
        load_config(task, ["run..seed=1"], environ={})
