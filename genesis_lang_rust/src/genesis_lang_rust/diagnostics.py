"""rustc and cargo diagnostics, trimmed to what the next prompt needs.

Both tools are asked for JSON (`--error-format=json`, `--message-format=json`)
so errors and warnings can be told apart and counted. What reaches the log:
the candidate's own errors first, then a few of its warnings, each as rustc
rendered it, with the job folder's absolute path removed; rustc's closing
summaries ("aborting due to ...", "N warnings emitted", "--explain") are
dropped, and whatever did not fit is counted in one line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

# Closing remarks rustc adds after the real diagnostics; they tell the model nothing new.
_SUMMARY_PREFIXES = ("aborting due to", "For more information about", "Some errors have detailed explanations")
# cargo's progress lines and its own summaries of what rustc already said.
_PROGRESS = ("Compiling ", "Finished ", "Blocking ", "Locking ", "Updating ", "Adding ", "Executable ", "Running ", "Checking ")
_CARGO_SUMMARY = re.compile(
    r"^(error: could not compile|warning: `.*` \(.*\) generated \d+ warning|warning: build failed, waiting|error: aborting due to)"
)


@dataclass
class Diagnostics:
    """Errors and warnings of one build, rendered, plus any plain text the tools printed."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    def add(self, message: dict) -> None:
        """One rustc diagnostic (the JSON object rustc emits)."""
        level = message.get("level", "")
        text = message.get("message", "")
        rendered = (message.get("rendered") or text).rstrip()
        if text.startswith(_SUMMARY_PREFIXES) or level == "failure-note":
            return
        if level == "warning" and text.endswith(("warning emitted", "warnings emitted")):
            return
        if level in ("error", "error: internal compiler error"):
            self.errors.append(rendered)
        elif level == "warning":
            self.warnings.append(rendered)

    def add_text(self, line: str) -> None:
        """A line that is not JSON: cargo's own messages ('error: failed to parse manifest')."""
        line = line.rstrip()
        if line and not line.lstrip().startswith(_PROGRESS) and not _CARGO_SUMMARY.match(line):
            self.other.append(line)

    def render(self, workdir: str, max_errors: int, max_warnings: int) -> str:
        """The text for the log: errors, then warnings, then what was left out."""
        parts: list[str] = []
        parts.extend(self.errors[:max_errors])
        parts.extend(self.warnings[:max_warnings])
        left_errors = max(0, len(self.errors) - max_errors)
        left_warnings = max(0, len(self.warnings) - max_warnings)
        if left_errors or left_warnings:
            parts.append(f"... and {left_errors} more error(s), {left_warnings} more warning(s) not shown.")
        if self.other:
            parts.insert(0, "\n".join(self.other[-40:]))
        return strip_paths("\n\n".join(parts), workdir)


def strip_paths(text: str, workdir: str) -> str:
    """Paths inside the job folder, shown relative to it (the model never saw the folder)."""
    prefix = workdir.rstrip("/") + "/"
    return text.replace(prefix, "").replace(workdir, ".")


def parse_rustc(stderr: str) -> Diagnostics:
    """rustc's `--error-format=json` output: one diagnostic per line."""
    diags = Diagnostics()
    for line in stderr.splitlines():
        message = _json(line)
        if message is not None and "level" in message:
            diags.add(message)
        else:
            diags.add_text(line)
    return diags


def parse_cargo(stdout: str, stderr: str) -> tuple[Diagnostics, list[dict]]:
    """cargo's `--message-format=json` output: diagnostics, and the artifact messages.

    Dependencies are compiled with their lints capped, so what shows up is the
    candidate's own warnings, and errors wherever they happen.
    """
    diags = Diagnostics()
    artifacts: list[dict] = []
    for line in stdout.splitlines():
        message = _json(line)
        if message is None:
            continue
        reason = message.get("reason")
        if reason == "compiler-message":
            diags.add(message.get("message", {}))
        elif reason == "compiler-artifact":
            artifacts.append(message)
    for line in stderr.splitlines():
        diags.add_text(line)
    return diags, artifacts


def _json(line: str) -> dict | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
