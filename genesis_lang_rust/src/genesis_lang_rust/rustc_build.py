"""Single-file programs: one `.rs` file compiled by rustc."""

from __future__ import annotations

import re
import time
from pathlib import Path

from genesis_core.language import BuildContext, BuildResult

from genesis_lang_rust.diagnostics import parse_rustc
from genesis_lang_rust.settings import BUILD_DIR, RustSettings, make_build_dir
from genesis_lang_rust.toolchain import resolve


def crate_name(main_file: str) -> str:
    """rustc's crate name for a file: letters, digits and underscores."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", Path(main_file).stem)
    return name if name and not name[0].isdigit() else f"main_{name}"


def target_cpu_flags(settings: RustSettings) -> list[str]:
    return ["-C", f"target-cpu={settings.target_cpu}"] if settings.target_cpu else []


def build_single_file(ctx: BuildContext, settings: RustSettings) -> BuildResult:
    rustc, _ = resolve(settings.rustc, settings.cargo)
    name = crate_name(ctx.main_file)
    make_build_dir(ctx.workdir)
    artifact = f"{BUILD_DIR}/{name}"
    argv = [
        rustc,
        "--edition", settings.edition,
        "--crate-type", "bin",
        "--crate-name", name,
        "-C", f"opt-level={settings.opt_level}",
        *target_cpu_flags(settings),
        *settings.rustc_flags,
        "--error-format=json",
        "-o", artifact,
        ctx.main_file,
    ]
    started = time.monotonic()
    result = ctx.run(argv, timeout_s=ctx.timeout_s, cwd=str(ctx.workdir))
    seconds = time.monotonic() - started
    diags = parse_rustc(result.stderr)
    log = diags.render(str(ctx.workdir), settings.max_errors, settings.max_warnings)
    metrics = {"build_errors": float(len(diags.errors)), "build_warnings": float(len(diags.warnings))}
    if result.timed_out:
        return BuildResult(ok=False, log=f"rustc did not finish within {ctx.timeout_s:g} s and was stopped.\n{log}".strip(), seconds=seconds, metrics=metrics)
    if result.returncode != 0:
        return BuildResult(ok=False, log=log or f"rustc exited with status {result.returncode}.", seconds=seconds, metrics=metrics)
    return BuildResult(ok=True, artifact=artifact, log=log, seconds=seconds, metrics=metrics)
