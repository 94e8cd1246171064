"""The hooks a Genesis plugin may implement.

Registration hooks receive a `register` callback, the pattern of the `llm`
CLI: a plugin calls `register(SomeClass)` once per thing it provides. Core
validates each class, remembers which distribution registered it, and refuses
a name claimed twice. Hook arguments may grow over time; an implementation
may accept fewer of them (pluggy's rule).

Every hook here is documented with its exact signature in docs/plugins.md;
tests/core/test_hook_docs.py fails when one is not.
"""

from __future__ import annotations

import pluggy

PROJECT = "genesis"
ENTRY_POINT_GROUP = "genesis"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_languages(register):
    """Register `genesis_core.language.Language` subclasses.

    `register(cls)` takes one class: its `name`, file `extensions`, line
    `comment` syntax, how to build a candidate and how to run it.
    """


@hookspec
def register_backends(register):
    """Register `genesis_core.backend.Backend` subclasses: executors of evaluation jobs."""


@hookspec
def register_llm_providers(register):
    """Register `genesis_core.llm.LLMProvider` subclasses.

    A provider's `name` is the prefix of the model strings it serves
    (`openai` in `openai:gpt-5-mini`).
    """


@hookspec
def register_strategies(register):
    """Register `genesis_core.strategy.Strategy` subclasses: parent selection and placement."""


@hookspec
def register_commands(cli):
    """Add click commands or groups to the `genesis` command group `cli`.

    Import heavy modules inside the command's function, not at module level:
    every `genesis` invocation imports the plugin to call this hook.
    """


@hookspec
def on_event(event):
    """Observe one structured run event.

    `event` is a dict with at least `ts`, `run_id`, `kind` and `generation`,
    plus the fields of that kind of event (the same object written as one
    line of `events.jsonl`). Called on the engine's loop: return quickly and
    never raise; an exception is logged and the observer is skipped for that
    event.
    """
