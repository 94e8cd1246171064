"""The C++ language: g++ or clang++, flags per target machine, a vectorisation report."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from genesis_core.language import (
    BuildContext,
    BuildResult,
    Language,
    LanguageSettings,
    tool_version,
)
from genesis_core.task_template import printed_point_task

from genesis_lang_cpp import build as builder
from genesis_lang_cpp.settings import CppSettings

HINTS = """\
C++ performance, in order of usual payoff:
- Cache-friendly layouts: contiguous `std::vector`/arrays over node-based containers; struct-of-arrays for fields read together in hot loops; loop orders that walk memory with stride 1 (for a matrix product, i-k-j rather than i-j-k); blocking/tiling so working sets fit in L1/L2.
- Vectorisation-friendly loops: countable trip counts, no early exits or function calls with side effects in the body, no aliasing doubt (`__restrict__` on pointer parameters), aligned and contiguous accesses; floating-point reductions only vectorise when reordering is allowed (`#pragma omp simd reduction(+:s)`, or `-ffast-math` if the task's flags allow it). The build log reports which loops the compiler vectorised and why the others were not.
- Let the compiler know more: `constexpr` sizes and templates on sizes so loops unroll; `[[likely]]`/`[[unlikely]]`; `static inline` small helpers; pass big objects by `const&`.
- Avoid in hot paths: virtual calls and `std::function` (use templates or `if constexpr`), allocation (`reserve`, reuse buffers), `std::endl` (use '\\n' and one buffered write), exceptions for control flow, `std::map`/`std::unordered_map` where a flat array indexed by key works.
- Explicit SIMD when the auto-vectoriser gives up: `<immintrin.h>` intrinsics (`_mm256_fmadd_ps` ...) guarded by the target the task builds for."""


class CppLanguage(Language):
    """C++ candidates: one or more translation units compiled by g++ or clang++ and linked into one program."""

    name = "cpp"
    extensions = (".cpp", ".cc", ".cxx", ".hpp", ".h")
    comment = "//"
    description = "C++ with g++ or clang++: optimisation level and target CPU as settings, and a vectorisation report (compiler remarks and SIMD instruction counts) as metrics."
    toolchain = ("g++", "objdump")
    Settings: ClassVar[type[LanguageSettings]] = CppSettings
    settings: CppSettings

    def build(self, ctx: BuildContext) -> BuildResult:
        return builder.build(ctx, self.settings)

    def sandbox_paths(self) -> list[str]:
        """The installation folder of the configured compiler, for compilers outside the system folders."""
        found = shutil.which(self.settings.compiler)
        return [str(Path(found).resolve().parent.parent)] if found else []

    def task_template(self) -> dict[str, str]:
        """The starter task of `genesis init --language cpp`."""
        return printed_point_task("cpp", "main.cpp", TASK_PROGRAM)

    def run_command(self, artifact: str, args: Sequence[str] = ()) -> list[str]:
        return [artifact if "/" in artifact else f"./{artifact}", *args]

    def hints(self) -> str:
        return HINTS

    def toolchain_versions(self) -> dict[str, str | None]:
        """The configured compiler first, then g++, clang++ and the disassembler."""
        names = dict.fromkeys((self.settings.compiler, "g++", "clang++", self.settings.objdump))
        return {exe: tool_version(exe) for exe in names}


# The program of the starter task (see genesis_core.task_template).
TASK_PROGRAM = '''// The program Genesis evolves: only the lines between the EVOLVE-BLOCK markers change.
#include <cstdio>

int main() {
    // EVOLVE-BLOCK-START
    double x = 0.5;
    double y = 0.5;
    double step = 0.25;
    for (int i = 0; i < 4; i++) {
        x = x + step;
    }
    // EVOLVE-BLOCK-END
    std::printf("%.17g %.17g\\n", x, y);
    return 0;
}
'''
