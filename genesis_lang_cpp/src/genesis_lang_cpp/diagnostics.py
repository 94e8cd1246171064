"""Compiler output trimmed to what the next prompt needs.

g++, clang++ and nvcc print diagnostics as a head line (`file:line:col: error:`,
or nvcc's `file(line): error:`) followed by the source excerpt, the caret and
notes, with context lines before it (`In function ...`, `In file included
from ...`). The output is cut into one block per diagnostic; the log keeps
the first errors, then a few warnings, says how many were left out, drops the
compilers' closing summaries and clang's optimisation remarks, and shows paths relative to the job folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HEAD = re.compile(r"^(?P<where>\S.*?)(?::\d+(?::\d+)?:|\(\d+\):)\s+(?P<level>fatal error|error|warning|remark)(?: #[\w-]+)?:")
_CONTEXT = re.compile(
    r"^(In file included from|\s+from |\S.*?: In (?:member |static member )?function|\S.*?: In instantiation of|\S.*?: At global scope|\S.*?: In lambda function|\S.*?: In constructor|\S.*?: In destructor|\S*ld: .*: in function)"
)
_LINKER = re.compile(r"(undefined reference to|multiple definition of|ld(?:\.\w+)?: cannot find|: error: ld returned|ld: error:)")
_SUMMARY = re.compile(
    r"^(\d+ errors? generated\.|\d+ warnings? generated\.|\d+ warnings? and \d+ errors? generated\.|compilation terminated|\d+ errors? detected in the compilation of|collect2: error: ld returned|clang(?:\+\+)?: error: linker command failed|Remark: The warnings can be suppressed)"
)


@dataclass
class Diagnostics:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    def extend(self, more: Diagnostics) -> None:
        """Add what a later step of the same build printed, without repeating a diagnostic."""
        self.errors += [e for e in more.errors if e not in self.errors]
        self.warnings += [w for w in more.warnings if w not in self.warnings]
        self.other += more.other

    def render(self, workdir: str, max_errors: int, max_warnings: int) -> str:
        """The log text; a diagnostic printed twice (a header in two units, two GPU targets) shows once."""
        errors = list(dict.fromkeys(self.errors))
        warnings = list(dict.fromkeys(self.warnings))
        parts = [*errors[:max_errors], *warnings[:max_warnings]]
        left_errors = max(0, len(errors) - max_errors)
        left_warnings = max(0, len(warnings) - max_warnings)
        if left_errors or left_warnings:
            parts.append(f"... and {left_errors} more error(s), {left_warnings} more warning(s) not shown.")
        if self.other and not self.errors:
            parts.insert(0, "\n".join(self.other[-30:]))
        return strip_paths("\n".join(parts), workdir)


def strip_paths(text: str, workdir: str) -> str:
    """Paths inside the job folder, shown relative to it (the model never saw the folder)."""
    prefix = workdir.rstrip("/") + "/"
    return text.replace(prefix, "").replace(workdir, ".")


def parse(output: str) -> Diagnostics:
    """Split compiler (and linker) output into error and warning blocks."""
    diags = Diagnostics()
    blocks: list[tuple[str, list[str]]] = []  # (level, lines)
    pending: list[str] = []  # context lines waiting for the diagnostic they introduce
    for raw in output.splitlines():
        line = raw.rstrip()
        if not line or _SUMMARY.match(line.strip()):
            continue
        head = _HEAD.match(line)
        if head or _LINKER.search(line):
            blocks.append((head.group("level") if head else "error", [*pending, line]))
            pending = []
        elif _CONTEXT.match(line):
            pending.append(line)
        elif blocks:
            blocks[-1][1].append(line)
        else:
            diags.other.append(line)
    for level, lines in blocks:
        if level == "warning":
            diags.warnings.append("\n".join(lines))
        elif level != "remark":  # optimisation remarks belong to the vectorisation report
            diags.errors.append("\n".join(lines))
    return diags
