"""Prompts, built from template files a user can override.

The templates are plain text files in `genesis_core/templates/`, filled with
`str.format_map`: `{name}` is a placeholder, `{{` and `}}` are literal braces.
A file of the same name in `prompts.template_dir` replaces the built-in one.
Every template is checked when the `PromptBuilder` is made, so a placeholder
that does not exist is reported before the run starts, naming the file.

Files and their placeholders (all templates also get the common ones:
language, comment, task_name, description, objective, objective_text, hints,
marker_start, marker_end):

- system.txt: the system message of every prompt.
- diff.txt, rewrite.txt, crossover.txt, initial.txt: the user message of each
  kind of proposal; placeholders parent, second_parent, inspirations,
  feedback, errors, meta. The optional ones (inspirations, feedback, errors,
  meta) come as whole sections with a heading, or empty.
- program.txt: how one program is shown; heading, id, score, correct, metrics, code.
- retry.txt: the follow-up after an answer that could not be applied; error.
- meta_request.txt: asks for a summary of what worked; best, failures.
- novelty_judge.txt: asks whether a near-duplicate is meaningfully different;
  candidate, nearest (the code of the EVOLVE-BLOCK regions of each).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from genesis_core.blocks import marker_line
from genesis_core.config import PromptsSection, TaskSection
from genesis_core.errors import GenesisError
from genesis_core.language import Language
from genesis_core.llm import Message

PROPOSAL_KINDS = ("diff", "rewrite", "crossover", "initial")
COMMON = ("language", "comment", "task_name", "description", "objective", "objective_text", "hints", "marker_start", "marker_end")
PROPOSAL_FIELDS = ("parent", "second_parent", "inspirations", "feedback", "errors", "meta")
TEMPLATES: dict[str, tuple[str, ...]] = {
    "system.txt": (),
    **{f"{kind}.txt": PROPOSAL_FIELDS for kind in PROPOSAL_KINDS},
    "program.txt": ("heading", "id", "score", "correct", "metrics", "code"),
    "retry.txt": ("error",),
    "meta_request.txt": ("best", "failures"),
    "novelty_judge.txt": ("candidate", "nearest"),
}
# Errors shown per prompt: the most recent ones of the parent's attempts.
MAX_ERRORS_SHOWN = 3
MAX_METRICS_SHOWN = 20


@dataclass(slots=True)
class ProgramView:
    """What a prompt shows of one program."""

    id: int
    code: str
    score: float | None
    correct: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    feedback: str = ""
    errors: list[str] = field(default_factory=list)


def trim_error(text: str, max_chars: int) -> str:
    """Keep the head and the tail of a long error (where compilers put the first
    error and the summary), and say how much was cut in between."""
    text = text.rstrip()
    if len(text) <= max_chars:
        return text
    head_end = max_chars // 2
    tail_start = len(text) - (max_chars - head_end)
    # Cut at line boundaries when one is near, so no line is shown half.
    newline = text.rfind("\n", 0, head_end)
    if newline > head_end // 2:
        head_end = newline
    newline = text.find("\n", tail_start)
    if newline != -1 and newline - tail_start < (max_chars - max_chars // 2) // 2:
        tail_start = newline + 1
    cut = text[head_end:tail_start]
    return f"{text[:head_end].rstrip()}\n[... {len(cut)} characters ({cut.count(chr(10))} lines) cut ...]\n{text[tail_start:]}"


class PromptBuilder:
    """Builds the messages of every proposal of a run."""

    def __init__(self, task: TaskSection, language: Language, prompts: PromptsSection, *, template_dir: Path | None = None) -> None:
        self.task = task
        self.language = language
        self.prompts = prompts
        folder = template_dir if template_dir is not None else (Path(prompts.template_dir) if prompts.template_dir else None)
        self.templates, self.origins = load_templates(folder)
        hints = language.hints().strip()
        self.common: dict[str, str] = {
            "language": language.name,
            "comment": language.comment,
            "task_name": task.name or "(unnamed)",
            "description": task.description.strip() or "(no description given: infer the goal from the program and the evaluator's feedback)",
            "objective": task.objective,
            "objective_text": (
                "a higher score is better (maximise it)." if task.objective == "maximize" else "a lower score is better (minimise it)."
            ),
            "hints": f"\nOptimisation hints for {language.name}:\n{hints}\n" if hints else "",
            "marker_start": marker_line(language.comment, "start"),
            "marker_end": marker_line(language.comment, "end"),
        }

    # -- proposals ---------------------------------------------------------------

    def build(
        self,
        kind: str,
        parent: ProgramView | None,
        inspirations: list[ProgramView],
        *,
        second_parent: ProgramView | None = None,
        meta: str | None = None,
    ) -> list[Message]:
        """System and user message asking for one proposal of `kind`."""
        if kind not in PROPOSAL_KINDS:
            raise ValueError(f"kind must be one of {PROPOSAL_KINDS}, not {kind!r}")
        if kind != "initial" and parent is None:
            raise ValueError(f"a {kind} prompt needs a parent program")
        if kind == "crossover" and second_parent is None:
            raise ValueError("a crossover prompt needs a second parent")
        values = {
            "parent": self._program(parent, "Parent") if parent else "",
            "second_parent": self._program(second_parent, "Second parent") if second_parent else "",
            "inspirations": self._inspirations(inspirations),
            "feedback": self._section("Evaluator feedback on the current program", parent.feedback.strip()) if parent else "",
            "errors": self._errors(parent.errors) if parent else "",
            "meta": self._section("Recommendations from earlier rounds", (meta or "").strip()),
        }
        return [
            Message(role="system", content=self._render("system.txt", {})),
            Message(role="user", content=self._render(f"{kind}.txt", values)),
        ]

    def retry(self, messages: list[Message], answer: str, error: str) -> list[Message]:
        """The conversation so far, the answer that failed, and why, for another attempt."""
        follow_up = self._render("retry.txt", {"error": trim_error(error, self.prompts.max_error_chars)})
        return [*messages, Message(role="assistant", content=answer), Message(role="user", content=follow_up)]

    def meta_request(self, best: list[ProgramView], recent_failures: list[str]) -> list[Message]:
        """Ask for a short summary of what worked, to guide the next prompts."""
        best_text = "\n".join(self._program(p, "Program") for p in best) or "(none yet)\n"
        failures = "\n".join(f"- {trim_error(f, self.prompts.max_error_chars // 4 or 1)}" for f in recent_failures if f.strip())
        return [
            Message(role="system", content=self._render("system.txt", {})),
            Message(role="user", content=self._render("meta_request.txt", {"best": best_text, "failures": failures or "(none)"})),
        ]

    def novelty_judge(self, candidate: str, nearest: str) -> list[Message]:
        """Ask whether `candidate` differs meaningfully from `nearest` (see `NoveltyFilter.judge`)."""
        values = {"candidate": candidate.strip("\n"), "nearest": nearest.strip("\n")}
        return [
            Message(role="system", content=self._render("system.txt", {})),
            Message(role="user", content=self._render("novelty_judge.txt", values)),
        ]

    # -- pieces ----------------------------------------------------------------------

    def _program(self, program: ProgramView, heading: str) -> str:
        metrics = ", ".join(f"{k}={_number(v)}" for k, v in list(program.metrics.items())[:MAX_METRICS_SHOWN])
        return self._render(
            "program.txt",
            {
                "heading": f"{heading} (id {program.id})",
                "id": str(program.id),
                "score": _number(program.score) if program.score is not None else "none",
                "correct": "correct" if program.correct else "incorrect",
                "metrics": f"Metrics: {metrics}\n" if metrics else "",
                "code": program.code.rstrip("\n"),
            },
        )

    def _inspirations(self, programs: list[ProgramView]) -> str:
        if not programs:
            return ""
        body = "\n".join(self._program(p, f"Inspiration {n}") for n, p in enumerate(programs, start=1))
        return self._section("Other programs for inspiration (with their scores)", body)

    def _errors(self, errors: list[str]) -> str:
        recent = [e for e in errors if e.strip()][-MAX_ERRORS_SHOWN:]
        if not recent:
            return ""
        body = "\n\n".join(f"```\n{trim_error(e, self.prompts.max_error_chars)}\n```" for e in recent)
        return self._section("Errors of recent attempts to change this program (avoid repeating them)", body)

    @staticmethod
    def _section(title: str, body: str) -> str:
        return f"## {title}\n{body.rstrip()}\n\n" if body else ""

    def _render(self, name: str, values: dict[str, str]) -> str:
        data = {**self.common, **values}
        try:
            return self.templates[name].format_map(data)
        except (KeyError, ValueError, IndexError) as exc:  # checked at load; kept for safety
            raise GenesisError(f"The prompt template {self.origins[name]} could not be filled: {exc}.") from None


def load_templates(folder: Path | None) -> tuple[dict[str, str], dict[str, str]]:
    """The templates (built-in, overridden by `folder`) and where each came from; all checked."""
    builtin = resources.files("genesis_core") / "templates"
    texts = {name: (builtin / name).read_text(encoding="utf-8") for name in TEMPLATES}
    origins = {name: f"'{name}' (built in)" for name in TEMPLATES}
    if folder is not None:
        if not folder.is_dir():
            raise GenesisError(
                f"The prompt template folder {folder} (prompts.template_dir) does not exist. "
                f"Create it with the templates to override ({', '.join(TEMPLATES)}), or unset prompts.template_dir."
            )
        for path in sorted(folder.glob("*.txt")):
            if path.name not in TEMPLATES:
                raise GenesisError(
                    f"The prompt template folder {folder} holds {path.name}, which is not a template Genesis uses. "
                    f"Template files are: {', '.join(TEMPLATES)}. Rename or remove it."
                )
            try:
                texts[path.name] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise GenesisError(f"The prompt template {path} is not UTF-8 text; save it as UTF-8.") from None
            origins[path.name] = str(path)
    for name, text in texts.items():
        _check_placeholders(origins[name], text, set(COMMON) | set(TEMPLATES[name]))
    return texts, origins


def _check_placeholders(origin: str, text: str, allowed: set[str]) -> None:
    """A clear error for a placeholder the template cannot get, or a stray brace."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise GenesisError(
            f"The prompt template {origin} is not a valid template: {exc}. Write literal braces as {{{{ and }}}}."
        ) from None
    for name in fields:
        base = name.split(".")[0].split("[")[0]
        if base not in allowed or base != name:
            raise GenesisError(
                f"The prompt template {origin} uses the placeholder {{{name}}}, which this template does not get. "
                f"Its placeholders are: {', '.join('{' + a + '}' for a in sorted(allowed))}. "
                f"Fix the name, or write literal braces as {{{{ and }}}}."
            )


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
