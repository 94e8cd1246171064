"""Prompts: what the LLM sees, template overrides, bad templates, error trimming."""

from __future__ import annotations

from pathlib import Path

import pytest
from genesis_core.config import PromptsSection, TaskSection
from genesis_core.errors import GenesisError
from genesis_core.language import BuildResult, Language
from genesis_core.prompts import TEMPLATES, ProgramView, PromptBuilder, trim_error


class Toy(Language):
    name = "toy"
    extensions = (".toy",)
    comment = "//"

    def build(self, ctx):
        return BuildResult(ok=True, artifact=ctx.main_file)

    def run_command(self, artifact, args=()):
        return ["toy", artifact, *args]

    def hints(self):
        return "- Unroll the inner loop by 4."


CODE = "fn main() {\n  // EVOLVE-BLOCK-START\n  let x = 1;\n  // EVOLVE-BLOCK-END\n}\n"


def builder(tmp_path: Path | None = None, **prompts) -> PromptBuilder:
    task = TaskSection(name="speed", description="Make it fast.", objective="minimize")
    return PromptBuilder(task, Toy(), PromptsSection(**prompts), template_dir=tmp_path)


def parent(**kw) -> ProgramView:
    values = dict(id=7, code=CODE, score=1.25, correct=True, metrics={"seconds": 0.5}, feedback="Slow on the large case.", errors=[])
    values.update(kw)
    return ProgramView(**values)


def test_diff_prompt_shows_everything_the_llm_needs():
    inspiration = ProgramView(id=3, code="fn main() { fast(); }", score=0.9, correct=True)
    system, user = builder().build("diff", parent(errors=["old error", "error[E0308]: mismatched types"]), [inspiration], meta="- Unrolling helped.")
    assert system.role == "system" and user.role == "user"
    assert "Make it fast." in system.content and "a lower score is better" in system.content
    assert "// EVOLVE-BLOCK-START" in system.content and "Unroll the inner loop by 4." in system.content
    assert "### Parent (id 7)\nScore: 1.25 (correct)\nMetrics: seconds=0.5\n```toy\n" + CODE.rstrip() + "\n```" in user.content
    assert "Slow on the large case." in user.content
    assert "error[E0308]: mismatched types" in user.content and "old error" in user.content
    assert "### Inspiration 1 (id 3)\nScore: 0.9 (correct)\n```toy\nfn main() { fast(); }\n```" in user.content
    assert "- Unrolling helped." in user.content
    assert "<<<<<<< SEARCH" in user.content and ">>>>>>> REPLACE" in user.content
    # The recommendations come first, the instructions last.
    assert user.content.index("Unrolling helped") < user.content.index("Parent (id 7)") < user.content.index("SEARCH")


def test_empty_sections_are_left_out():
    _, user = builder().build("rewrite", parent(feedback="", metrics={}), [])
    assert "Evaluator feedback" not in user.content and "inspiration" not in user.content.lower()
    assert "Recommendations" not in user.content and "Errors of recent attempts" not in user.content
    assert "one fenced code block (```toy" in user.content


def test_crossover_shows_both_parents_and_initial_needs_none():
    other = parent(id=9, code=CODE.replace("1", "2"), score=2.0)
    _, user = builder().build("crossover", parent(), [], second_parent=other)
    assert "## First parent\n### Parent (id 7)" in user.content and "## Second parent\n### Second parent (id 9)" in user.content
    _, first = builder().build("initial", None, [])
    assert "Write a first complete toy program" in first.content
    with pytest.raises(ValueError):
        builder().build("crossover", parent(), [])
    with pytest.raises(ValueError):
        builder().build("diff", None, [])


def test_only_the_latest_errors_are_shown():
    errors = [f"error number {i}" for i in range(6)]
    _, user = builder().build("diff", parent(errors=errors), [])
    assert "error number 5" in user.content and "error number 3" in user.content
    assert "error number 2" not in user.content


def test_trim_error_keeps_head_and_tail_and_says_what_was_cut():
    text = "first error here\n" + "\n".join(f"note: line {i}" for i in range(500)) + "\nerror: aborting due to 1 previous error"
    trimmed = trim_error(text, 300)
    assert trimmed.startswith("first error here\n")
    assert trimmed.endswith("error: aborting due to 1 previous error")
    assert "characters" in trimmed and "lines) cut ...]" in trimmed
    assert len(trimmed) < 300 + 60
    cut = int(trimmed.split("[... ")[1].split(" characters")[0])
    head, tail = trimmed.split("\n[... ")[0], trimmed.split("cut ...]\n")[1]
    assert len(head) + cut + len(tail) == len(text)  # nothing lost but what it says was cut
    assert trim_error("short", 300) == "short"


def test_errors_in_prompts_are_trimmed_to_the_setting():
    long_error = "E" * 5000
    _, user = builder(max_error_chars=200).build("diff", parent(errors=[long_error]), [])
    assert "E" * 100 in user.content and "E" * 300 not in user.content
    assert "4800 characters (0 lines) cut" in user.content


def test_retry_appends_answer_and_error():
    messages = builder().build("diff", parent(), [])
    again = builder(max_error_chars=100).retry(messages, "my bad diff", "SEARCH/REPLACE block 1 does not match." + "x" * 500)
    assert again[:2] == messages
    assert again[2].role == "assistant" and again[2].content == "my bad diff"
    assert again[3].role == "user" and "SEARCH/REPLACE block 1 does not match." in again[3].content
    assert "cut ...]" in again[3].content


def test_meta_request_lists_best_programs_and_failures():
    system, user = builder().meta_request([parent(), parent(id=8, score=1.1)], ["build failed: missing semicolon", ""])
    assert "### Program (id 7)" in user.content and "### Program (id 8)" in user.content
    assert "- build failed: missing semicolon" in user.content
    assert "bullet points" in user.content and system.role == "system"


def test_user_template_overrides_builtin(tmp_path):
    (tmp_path / "diff.txt").write_text("CUSTOM for {task_name}: {parent} -- literal {{braces}}\n")
    _, user = builder(tmp_path).build("diff", parent(), [])
    assert user.content.startswith("CUSTOM for speed: ### Parent (id 7)")
    assert "literal {braces}" in user.content
    # Others stay built in.
    _, rewrite = builder(tmp_path).build("rewrite", parent(), [])
    assert "Rewrite the code between" in rewrite.content


def test_template_dir_from_settings(tmp_path):
    (tmp_path / "system.txt").write_text("You write {language}.")
    task = TaskSection(name="t")
    system, _ = PromptBuilder(task, Toy(), PromptsSection(template_dir=str(tmp_path))).build("initial", None, [])
    assert system.content == "You write toy."


def test_unknown_placeholder_names_file_and_placeholder(tmp_path):
    (tmp_path / "rewrite.txt").write_text("Improve {parnet}\n")
    with pytest.raises(GenesisError) as err:
        builder(tmp_path)
    message = str(err.value)
    assert str(tmp_path / "rewrite.txt") in message and "{parnet}" in message and "{parent}" in message


def test_placeholder_of_another_template_is_refused(tmp_path):
    (tmp_path / "retry.txt").write_text("{error} in {parent}")
    with pytest.raises(GenesisError, match=r"uses the placeholder \{parent\}, which this template does not get"):
        builder(tmp_path)


def test_stray_brace_and_unknown_file_and_missing_folder(tmp_path):
    (tmp_path / "system.txt").write_text("int main() { return 0; }")
    with pytest.raises(GenesisError, match="literal braces"):
        builder(tmp_path)
    (tmp_path / "system.txt").unlink()
    (tmp_path / "sytem.txt").write_text("hello")
    with pytest.raises(GenesisError, match="sytem.txt, which is not a template Genesis uses"):
        builder(tmp_path)
    with pytest.raises(GenesisError, match="does not exist"):
        builder(tmp_path / "nope")


def test_builtin_templates_all_exist_and_are_valid():
    b = builder()
    assert set(b.templates) == set(TEMPLATES)
    assert all(b.origins[name].endswith("(built in)") for name in TEMPLATES)
