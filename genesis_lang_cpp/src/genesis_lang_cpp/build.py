"""Compiling and linking a C++ candidate, with the vectorisation report.

Each translation unit is compiled to its own object file (so the SIMD count
sees the candidate's code only, not the C and C++ runtimes), then the objects
are linked. Every tool runs through the sandbox runner of the build context.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from genesis_core.errors import GenesisError
from genesis_core.language import BuildContext, BuildResult

from genesis_lang_cpp.diagnostics import Diagnostics, parse
from genesis_lang_cpp.settings import BUILD_DIR, CppSettings, make_build_dir
from genesis_lang_cpp.vectorization import (
    REPORT_FILE,
    Loop,
    SimdCount,
    clang_loops,
    count_simd,
    gcc_loops,
)

SOURCE_EXTENSIONS = (".cpp", ".cc", ".cxx", ".c++")


class CompilerNotFound(GenesisError):
    """The configured C++ compiler is not installed where the build runs."""


@cache
def compiler_family(compiler: str) -> tuple[str, str]:
    """('gcc' or 'clang', absolute path) of a compiler, from its --version text."""
    path = shutil.which(compiler)
    if path is None:
        raise CompilerNotFound(
            f"The C++ compiler '{compiler}' is not on PATH. Install it (`apt-get install g++` or `apt-get install clang`) "
            f"or set [language.cpp] compiler to one that is installed ('g++', 'clang++' or a full path)."
        )
    try:
        text = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CompilerNotFound(f"`{path} --version` failed ({exc}); check the compiler installation.") from None
    return ("clang" if "clang" in text.lower() else "gcc"), path


def find_sources(workdir: Path, settings: CppSettings) -> list[str]:
    """The translation units to compile, relative to the job folder."""
    if settings.sources:
        return list(settings.sources)
    found = []
    for path in sorted(workdir.rglob("*")):
        relative = path.relative_to(workdir)
        if relative.parts[0] == BUILD_DIR or not path.is_file():
            continue
        if path.suffix in SOURCE_EXTENSIONS:
            found.append(relative.as_posix())
    return found


def code_flags(settings: CppSettings) -> list[str]:
    """Flags that shape the generated code: used to compile and to link."""
    flags = [f"-O{settings.opt_level}"]
    if settings.march:
        flags.append(f"-march={settings.march}")
    if settings.mtune:
        flags.append(f"-mtune={settings.mtune}")
    return [*flags, *settings.flags]


def _object_name(source: str) -> str:
    return f"{BUILD_DIR}/" + re.sub(r"[^A-Za-z0-9_.-]", "_", source) + ".o"


@dataclass
class _Build:
    """What the steps of one build gathered."""

    diags: Diagnostics = field(default_factory=Diagnostics)
    loops: list[Loop] = field(default_factory=list)
    simd: SimdCount = field(default_factory=SimdCount)
    report_notes: list[str] = field(default_factory=list)


def build(ctx: BuildContext, settings: CppSettings) -> BuildResult:
    family, compiler = compiler_family(settings.compiler)
    sources = find_sources(ctx.workdir, settings)
    if not sources:
        return BuildResult(ok=False, log=f"No C++ source file ({', '.join(SOURCE_EXTENSIONS)}) in the candidate; nothing to compile.")
    make_build_dir(ctx.workdir)
    started = time.monotonic()
    deadline = started + ctx.timeout_s
    state = _Build()
    objects = []
    for source in sources:
        obj = _object_name(source)
        argv = [compiler, f"-std={settings.std}", *code_flags(settings), "-fdiagnostics-color=never", "-c", source, "-o", obj]
        argv += [f"-fmax-errors={settings.max_errors}"] if family == "gcc" else [f"-ferror-limit={settings.max_errors}"]
        report_file = f"{obj}.vec.txt"
        if settings.vectorization_report:
            if family == "gcc":
                argv.append(f"-fopt-info-vec-optimized-missed={report_file}")
            else:
                argv += ["-Rpass=loop-vectorize", "-Rpass-missed=loop-vectorize", "-Rpass-analysis=loop-vectorize"]
        result = ctx.run(argv, timeout_s=max(1.0, deadline - time.monotonic()), cwd=str(ctx.workdir))
        state.diags.extend(parse(result.stderr))
        if result.timed_out:
            return _failed(ctx, settings, state, started, f"Compiling {source} did not finish within {ctx.timeout_s:g} s and was stopped.")
        if result.returncode != 0:
            return _failed(ctx, settings, state, started, f"The compiler exited with status {result.returncode} on {source}.")
        if settings.vectorization_report:
            if family == "gcc":
                report = ctx.workdir / report_file
                state.loops += gcc_loops(report.read_text(errors="replace")) if report.is_file() else []
            else:
                state.loops += clang_loops(result.stderr)
        objects.append(obj)
    program = f"{BUILD_DIR}/{settings.output}"
    link = [compiler, *code_flags(settings), *objects, "-o", program, *settings.link_flags]
    result = ctx.run(link, timeout_s=max(1.0, deadline - time.monotonic()), cwd=str(ctx.workdir))
    state.diags.extend(parse(result.stderr))
    if result.returncode != 0:
        return _failed(ctx, settings, state, started, f"Linking failed (status {result.returncode}).")
    if settings.vectorization_report:
        _count_simd(ctx, settings, objects, state, deadline)
    report = _report_text(settings, state)
    if report:
        (ctx.workdir / REPORT_FILE).write_text(report + "\n")
    log = "\n".join(part for part in (_diag_text(ctx, settings, state), report) if part)
    return BuildResult(ok=True, artifact=program, log=log, seconds=time.monotonic() - started, metrics=_metrics(settings, state))


def _count_simd(ctx: BuildContext, settings: CppSettings, objects: list[str], state: _Build, deadline: float) -> None:
    objdump = shutil.which(settings.objdump)
    if objdump is None:
        state.report_notes.append(f"SIMD instructions not counted: '{settings.objdump}' is not installed (Debian: binutils).")
        return
    result = ctx.run([objdump, "-d", "-C", "--no-show-raw-insn", *objects], timeout_s=max(1.0, deadline - time.monotonic()), cwd=str(ctx.workdir))
    if result.returncode != 0:
        state.report_notes.append(f"SIMD instructions not counted: objdump failed: {result.stderr.strip()[:300]}")
        return
    state.simd = count_simd(result.stdout)



def _diag_text(ctx: BuildContext, settings: CppSettings, state: _Build) -> str:
    return state.diags.render(str(ctx.workdir), settings.max_errors, settings.max_warnings)


def _failed(ctx: BuildContext, settings: CppSettings, state: _Build, started: float, summary: str) -> BuildResult:
    text = _diag_text(ctx, settings, state)
    return BuildResult(
        ok=False,
        log=text or summary,
        seconds=time.monotonic() - started,
        metrics={"build_errors": float(len(state.diags.errors)), "build_warnings": float(len(state.diags.warnings))},
    )


def _metrics(settings: CppSettings, state: _Build) -> dict[str, float]:
    metrics = {"build_errors": float(len(state.diags.errors)), "build_warnings": float(len(state.diags.warnings))}
    if settings.vectorization_report:
        metrics["vectorized_loops"] = float(sum(loop.vectorized for loop in state.loops))
        metrics["missed_loops"] = float(sum(not loop.vectorized for loop in state.loops))
        if state.simd.instructions:
            metrics["instructions"] = float(state.simd.instructions)
            metrics["simd_instructions"] = float(state.simd.simd)
            metrics["simd_instructions_256"] = float(state.simd.simd_256)
            metrics["simd_instructions_512"] = float(state.simd.simd_512)
            for name in settings.hot_functions:
                metrics[f"simd_instructions.{name}"] = float(state.simd.per_function.get(name, 0))
    return metrics


def _report_text(settings: CppSettings, state: _Build) -> str:
    """The vectorisation part of the build log: what the next prompt sees."""
    if not settings.vectorization_report:
        return ""
    vectorized = [loop for loop in state.loops if loop.vectorized]
    missed = [loop for loop in state.loops if not loop.vectorized]
    lines = [f"Vectorisation report: {len(vectorized)} loop(s) vectorised, {len(missed)} not."]
    shown = (missed + vectorized)[: settings.max_report_lines]
    for loop in shown:
        status = "vectorised" if loop.vectorized else "NOT vectorised"
        lines.append(f"  {loop.location}: {status}{': ' + loop.detail if loop.detail else ''}")
    if len(state.loops) > len(shown):
        lines.append(f"  ... {len(state.loops) - len(shown)} more loop(s).")
    if state.simd.instructions:
        lines.append(
            f"SIMD instructions in the object code: {state.simd.simd} of {state.simd.instructions} "
            f"({state.simd.simd_256} on 256-bit, {state.simd.simd_512} on 512-bit registers)."
        )
        for name in settings.hot_functions:
            missing = "" if name in state.simd.functions else " (no function of that name in the object code: inlined or misspelt)"
            lines.append(f"  {name}: {state.simd.per_function.get(name, 0)} SIMD instruction(s){missing}")
    lines += state.report_notes
    return "\n".join(lines)
