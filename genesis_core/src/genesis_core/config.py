"""Configuration: a task's genesis.toml, then GENESIS_* variables, then `-s` overrides.

Every section is a pydantic model that forbids unknown keys, so a typo is an
error naming the key, where it came from (file and line, variable, or
option) and the closest valid key. Plugin settings live in sub-tables named
after the plugin (`[backend.slurm]`, `[strategy.islands]`, `[language.cpp]`)
and are validated by the plugin's own `Settings` model through
`plugin_settings`, with the same kind of message.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from genesis_core.errors import ConfigError
from genesis_core.job import Limits

CONFIG_FILE = "genesis.toml"
ENV_PREFIX = "GENESIS_"
# GENESIS_* variables that control the program rather than a run's configuration.
CONTROL_VARIABLES = {"GENESIS_LOAD_PLUGINS", "GENESIS_BLOCK_PLUGINS", "GENESIS_TRACE_HOOKS", "GENESIS_DEBUG"}


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TaskSection(Section):
    """What to evolve and how it is scored."""

    name: str = Field("", description="Short name; default: the task folder's name.")
    description: str = Field("", description="What the program must do; goes into every prompt.")
    language: str = Field("python", description="A registered language (see `genesis plugins list`).")
    initial_program: str | None = Field(
        "initial.py", description="Starting program with EVOLVE-BLOCK regions, relative to the task folder; empty: the LLM writes the first one."
    )
    files: list[str] = Field(default_factory=list, description="Further candidate files (relative paths) that travel with the main file and may hold EVOLVE-BLOCKs.")
    evaluator: str = Field("evaluate.py", description="The evaluator module, relative to the task folder.")
    evaluator_function: str = Field("evaluate", description="The function of the evaluator module that scores a candidate.")
    objective: Literal["maximize", "minimize"] = Field("maximize", description="Whether a higher or a lower score is better.")


class RunSection(Section):
    """Budgets, stop conditions, parallelism and where results go."""

    max_evaluations: int | None = Field(100, ge=1, description="Stop after this many evaluated candidates.")
    max_cost_usd: float | None = Field(None, gt=0, description="Stop before spending more on LLM calls (overshoot at most by the calls in flight).")
    max_wall_seconds: float | None = Field(None, gt=0, description="Stop after this much wall time.")
    target_score: float | None = Field(None, description="Stop when a correct program reaches this score.")
    stagnation: int | None = Field(None, ge=1, description="Stop after this many evaluations without a new best.")
    seed: int = Field(0, description="Seed for every random choice of the engine, strategy and offline provider.")
    results_dir: str | None = Field(None, description="Results folder; default: results/<task name> under the current folder.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite inside the results folder.")
    run_id: str | None = Field(None, description="Name of the run inside the database; default: derived from the task name.")
    max_proposals_in_flight: int = Field(4, ge=1, description="LLM proposals under way at once.")
    max_evaluations_in_flight: int | None = Field(None, ge=1, description="Evaluations under way at once; default: the backend's capacity.")


class EndpointConfig(Section):
    """A named OpenAI-compatible (or Anthropic) endpoint, used as `NAME:model`."""

    base_url: str
    api_key_env: str | None = Field(None, description="Variable holding the key; None for servers without auth.")
    provider: str = Field("openai", description="Which provider speaks to it: 'openai' (Chat Completions) or 'anthropic'.")


class PriceConfig(Section):
    input_per_mtok: float = Field(ge=0, description="USD per million input tokens.")
    output_per_mtok: float = Field(ge=0, description="USD per million output tokens.")


class LLMSection(Section):
    """Which models propose changes, and how they are called."""

    models: list[str] | dict[str, float] = Field(
        default_factory=list,
        description="Model strings (`openai:gpt-5-mini`), or a table of model -> weight. Empty: the offline provider when no key is set.",
    )
    selection: Literal["fixed", "ucb1", "thompson"] = Field("fixed", description="Fixed weights, or a bandit that learns which model pays off.")
    temperature: float | list[float] = Field(0.7, description="A temperature, or a list to sample one from per call.")
    top_p: float | list[float] | None = None
    max_tokens: int | None = Field(8192, ge=1)
    reasoning_effort: str | None = Field(None, description="For reasoning models: 'low', 'medium' or 'high'.")
    thinking_budget: int | None = Field(None, ge=1024, description="Anthropic extended thinking budget in tokens.")
    timeout_s: float = Field(120.0, gt=0)
    max_attempts: int = Field(5, ge=1, description="Attempts per call before the proposal fails.")
    max_concurrency: int = Field(8, ge=1, description="Requests at once per provider.")
    retry_backoff_s: float = Field(
        1.0, ge=0, description="Wait before the first retry; doubles per attempt (with jitter, at most 60 s). A Retry-After header wins."
    )
    http_client: Literal["genesis", "sdk"] = Field(
        "genesis",
        description="How OpenAI-compatible providers send requests: 'genesis' (a lean HTTP/1.1 client, a tenth of the SDK's "
        "CPU per call) or 'sdk' (the official openai SDK). A proxy variable (HTTPS_PROXY...) for the server means 'sdk'.",
    )
    endpoints: dict[str, EndpointConfig] = Field(default_factory=dict)
    prices: dict[str, PriceConfig] = Field(default_factory=dict, description="Per model string; overrides the shipped price table.")
    replay_from: str | None = Field(None, description="Replay the LLM calls of an earlier run (its results folder or database URL).")


class BackendSection(Section):
    """Where evaluations run. Sub-tables hold each backend's own settings: [backend.local]."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    name: str = Field("local", description="A registered backend (see `genesis plugins list`).")


class StrategySection(Section):
    """How parents and inspirations are chosen. Sub-tables: [strategy.islands]."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    name: str = Field("islands", description="A registered strategy.")


class LanguageSection(Section):
    """Per-language settings in sub-tables: [language.cpp] compiler = 'clang++'."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)


class SandboxSection(Section):
    enabled: bool = Field(True, description="Run candidates under every protection the machine offers.")
    scrub_env: list[str] = Field(default_factory=list, description="Further variables (globs allowed) removed from the candidate's environment.")


class PatchSection(Section):
    diff: float = Field(0.7, ge=0, description="Weight of SEARCH/REPLACE diff proposals.")
    rewrite: float = Field(0.2, ge=0, description="Weight of full rewrites of the marked regions.")
    crossover: float = Field(0.1, ge=0, description="Weight of crossovers of two parents.")
    max_retries: int = Field(2, ge=0, description="Times a patch error goes back to the LLM before the proposal fails.")


class NoveltySection(Section):
    enabled: bool = True
    embedding: str = Field("shingles", description="'shingles' (built in, offline) or an embedding model string.")
    threshold: float = Field(0.98, gt=0, le=1, description="Reject a candidate this similar (cosine) to a program of its island.")
    judge: bool = Field(False, description="Ask an LLM whether a near-duplicate is meaningfully different.")
    judge_model: str | None = None


class PromptsSection(Section):
    template_dir: str | None = Field(None, description="Folder whose files override the built-in prompt templates.")
    meta_every: int = Field(20, ge=0, description="Every N evaluations, summarise what worked into the next prompts (0: never).")
    max_error_chars: int = Field(2000, ge=100, description="Build and run errors are trimmed to this length in prompts.")


class GenesisConfig(Section):
    task: TaskSection = Field(default_factory=TaskSection)
    run: RunSection = Field(default_factory=RunSection)
    llm: LLMSection = Field(default_factory=LLMSection)
    backend: BackendSection = Field(default_factory=BackendSection)
    strategy: StrategySection = Field(default_factory=StrategySection)
    language: LanguageSection = Field(default_factory=LanguageSection)
    limits: Limits = Field(default_factory=Limits)
    sandbox: SandboxSection = Field(default_factory=SandboxSection)
    patch: PatchSection = Field(default_factory=PatchSection)
    novelty: NoveltySection = Field(default_factory=NoveltySection)
    prompts: PromptsSection = Field(default_factory=PromptsSection)

    @model_validator(mode="after")
    def _plugin_tables_are_tables(self) -> GenesisConfig:
        for section in ("backend", "strategy", "language"):
            for key, value in (getattr(self, section).model_extra or {}).items():
                if not isinstance(value, dict):
                    raise ValueError(f"[{section}.{key}] must be a table of the plugin's settings, not {type(value).__name__}")
        return self


def plugin_settings(config: GenesisConfig, section: str, plugin: str, model: type[BaseModel]) -> BaseModel:
    """Validate the sub-table `[section.plugin]` against the plugin's Settings model."""
    raw = (getattr(config, section).model_extra or {}).get(plugin, {})
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, prefix=(section, plugin), origins={}, model=model)) from None


# -- loading -----------------------------------------------------------------


def load_config(
    task_dir: Path | None = None,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    *,
    config_file: Path | None = None,
) -> GenesisConfig:
    """Read `task_dir/genesis.toml`, apply GENESIS_* variables, then `-s` overrides."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    origins: dict[tuple[str, ...], str] = {}
    path = config_file or (task_dir / CONFIG_FILE if task_dir is not None else None)
    if path is not None:
        data = _read_toml(path)
        text = path.read_text()
        for key_path in _leaf_paths(data):
            origins[key_path] = f"{path} line {_find_line(text, key_path)}" if _find_line(text, key_path) else str(path)
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in CONTROL_VARIABLES:
            continue
        key_path = tuple(part.lower() for part in name[len(ENV_PREFIX):].split("__"))
        if len(key_path) < 2:
            raise ConfigError(
                f"The environment variable {name} does not name a setting: expected GENESIS_<SECTION>__<KEY> "
                f"(for example GENESIS_RUN__MAX_EVALUATIONS=50). Rename or unset it."
            )
        _set(data, key_path, _parse_value(value))
        origins[key_path] = f"environment variable {name}"
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"The override '-s {item}' is not of the form section.key=value (for example -s run.max_evaluations=50).")
        key_path = _dotted_key(key.strip(), item)
        if len(key_path) < 2:
            raise ConfigError(f"The override '-s {item}' names no section: use section.key=value (for example -s run.seed=3).")
        _set(data, key_path, _parse_value(value.strip()))
        origins[key_path] = f"option -s {item}"
    try:
        config = GenesisConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, prefix=(), origins=origins, model=GenesisConfig)) from None
    if task_dir is not None and not config.task.name:
        config.task.name = task_dir.resolve().name
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        hint = f"`genesis init {path.parent} --language python` writes one" if path.name == CONFIG_FILE else "check the path"
        raise ConfigError(f"No configuration file at {path}: a task folder needs a {CONFIG_FILE}; {hint}.")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}. Fix the syntax at that spot.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; save it as UTF-8.") from None


def _dotted_key(key: str, item: str) -> tuple[str, ...]:
    """A TOML dotted key, quoted parts included: `llm.prices."mock:m".input_per_mtok`."""
    try:
        node: Any = tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        raise ConfigError(
            f"The override '-s {item}' does not start with a valid key: write section.key=value, "
            f'quoting parts that hold other characters (-s \'llm.prices."openai:gpt-5".input_per_mtok=1.25\').'
        ) from None
    parts: list[str] = []
    while isinstance(node, dict):
        (name, node), = node.items()
        parts.append(name)
    return tuple(parts)


def _parse_value(text: str) -> Any:
    """A TOML value when the text is one (`50`, `true`, `[1, 2]`, `"x"`), else the plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _set(data: dict[str, Any], key_path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in key_path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"Cannot set {'.'.join(key_path)}: {part} is a value, not a section.")
        node = child
    node[key_path[-1]] = value


def _leaf_paths(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterable[tuple[str, ...]]:
    for key, value in data.items():
        yield prefix + (key,)
        if isinstance(value, dict):
            yield from _leaf_paths(value, prefix + (key,))


def _find_line(text: str, key_path: tuple[str, ...]) -> int | None:
    """Line number of a key in a TOML file, for error messages (best effort)."""
    table: tuple[str, ...] = ()
    key_re = re.compile(r'^\s*"?([A-Za-z0-9_\-]+)"?\s*=')
    header_re = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    for number, line in enumerate(text.splitlines(), start=1):
        if m := header_re.match(line):
            table = tuple(p.strip().strip('"') for p in m.group(1).split("."))
            if table == key_path:
                return number
            continue
        if (m := key_re.match(line)) and table + (m.group(1),) == key_path:
            return number
        if (m := key_re.match(line)) and table + tuple(m.group(1).split(".")) == key_path:
            return number
    return None


def _valid_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The field names valid at `loc` of `model` (for 'did you mean')."""
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        annotation = fields[part].annotation
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _origin(origins: dict[tuple[str, ...], str], loc: tuple[str, ...]) -> str:
    for end in range(len(loc), 0, -1):
        if loc[:end] in origins:
            return f" ({origins[loc[:end]]})"
    return ""


def _explain(exc: ValidationError, *, prefix: tuple[str, ...], origins: dict, model: type[BaseModel]) -> str:
    """One paragraph naming each bad key, where it came from, and what to do."""
    parts = []
    for error in exc.errors():
        loc = tuple(str(p) for p in error["loc"])
        dotted = ".".join(prefix + loc)
        where = _origin(origins, prefix + loc)
        if error["type"] == "extra_forbidden":
            valid = _valid_keys(model, tuple(loc[:-1]))
            close = difflib.get_close_matches(loc[-1], valid, n=1)
            suggestion = f" Did you mean '{'.'.join(prefix + loc[:-1] + (close[0],))}'?" if close else ""
            listing = f" Valid keys here: {', '.join(sorted(valid))}." if valid and not close else ""
            parts.append(f"Unknown configuration key '{dotted}'{where}.{suggestion}{listing}")
        elif error["type"] == "missing":
            parts.append(f"Missing configuration key '{dotted}'{where}: it is required.")
        else:
            found = error.get("input")
            found_text = f"; found {found!r}" if found is not None and not isinstance(found, dict) else ""
            parts.append(f"Bad value for '{dotted}'{where}: {error['msg']}{found_text}.")
    return " ".join(parts) + " Fix the configuration (see `genesis config schema`) and try again."


def config_schema() -> dict[str, Any]:
    return GenesisConfig.model_json_schema()
