"""Cargo projects: several files, modules, workspaces and crate dependencies.

The candidate's folder is the project. Cargo runs there with a target folder
from the run's shared build cache (see target_slots), offline, against the
directory source the settings name; the built binary (and any criterion
benches) are copied into the job folder before the slot is given back.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from genesis_core.errors import ConfigError
from genesis_core.language import BuildContext, BuildResult

from genesis_lang_rust.diagnostics import parse_cargo
from genesis_lang_rust.rustc_build import target_cpu_flags
from genesis_lang_rust.settings import BUILD_DIR, RustSettings, make_build_dir
from genesis_lang_rust.target_slots import claim_slot, share_with
from genesis_lang_rust.toolchain import ToolchainError, resolve

# Name of the directory source that replaces crates.io when `registry_dir` is set.
_SOURCE_NAME = "genesis-registry"


def find_manifest(files: dict[str, str] | list[str], main_file: str) -> str | None:
    """The Cargo.toml that owns the candidate: at the root, else the nearest above the main file."""
    names = set(files)
    if "Cargo.toml" in names:
        return "Cargo.toml"
    folder = PurePosixPath(main_file).parent
    while True:
        candidate = str(folder / "Cargo.toml") if str(folder) != "." else "Cargo.toml"
        if candidate in names:
            return candidate
        if str(folder) in (".", "/", ""):
            return None
        folder = folder.parent


def cargo_config_args(settings: RustSettings, rustc: str) -> list[str]:
    """The `--config` and `--offline` arguments every cargo call of a build gets."""
    args = ["--config", f"build.rustc={json.dumps(rustc)}"]
    if settings.offline:
        args.append("--offline")
    if settings.registry_dir:
        directory = Path(settings.registry_dir).expanduser()
        if not directory.is_absolute():
            raise ConfigError(
                f"[language.rust] registry_dir must be an absolute path, not '{settings.registry_dir}'. "
                f"Give the folder of a `cargo vendor` output or Debian's /usr/share/cargo/registry by its full path."
            )
        if not directory.is_dir():
            raise ConfigError(
                f"[language.rust] registry_dir names '{directory}', which is not a folder on the machine that builds. "
                f"Run `cargo vendor` into it, or install Debian's crates (`apt-get install librust-rand-dev ...`, "
                f"they land in /usr/share/cargo/registry)."
            )
        args += [
            "--config", f'source.crates-io.replace-with="{_SOURCE_NAME}"',
            "--config", f"source.{_SOURCE_NAME}.directory={json.dumps(str(directory))}",
        ]
    rustflags = [*target_cpu_flags(settings), *settings.rustc_flags]
    if rustflags:
        args += ["--config", f"build.rustflags={json.dumps(rustflags)}"]
    for item in settings.cargo_config:
        args += ["--config", item]
    return args


def _target_selection(settings: RustSettings) -> list[str]:
    args = ["-p", settings.package] if settings.package else []
    args += ["--bin", settings.bin] if settings.bin else ["--bins"]
    for bench in settings.benches:
        args += ["--bench", bench]
    for feature in settings.features:
        args += ["--features", feature]
    return args


@contextmanager
def _target_dir(ctx: BuildContext, settings: RustSettings) -> Iterator[Path]:
    if settings.shared_target and ctx.shared_build_dir is not None:
        with claim_slot(Path(ctx.shared_build_dir) / "rust", settings.build_slots) as folder:
            share_with(folder, ctx.workdir)
            yield folder
    else:
        yield ctx.workdir / "target"


def _touch_sources(workdir: Path, target: Path) -> None:
    """Make every file of the candidate newer than the slot's last build.

    Cargo decides that a path crate is fresh by comparing its files' mtimes
    with the last build in the target folder, not by their content. A
    candidate written before another one finished building would otherwise
    look older than that build, and cargo would hand back the other
    candidate's binary.
    """
    skip = {workdir / BUILD_DIR, target}
    for folder, dirs, names in os.walk(workdir):
        dirs[:] = [d for d in dirs if Path(folder, d) not in skip]
        for name in names:
            os.utime(Path(folder, name))


def _is_local(package_id: str) -> bool:
    """The candidate's own packages are path packages; dependencies come from a registry."""
    return "path+file://" in package_id


def _pick_binary(artifacts: list[dict], settings: RustSettings) -> tuple[dict | None, str]:
    bins = [a for a in artifacts if a.get("executable") and "bin" in a["target"]["kind"] and _is_local(a["package_id"])]
    if settings.bin:
        bins = [a for a in bins if a["target"]["name"] == settings.bin]
    if len(bins) == 1:
        return bins[0], ""
    if not bins:
        return None, (
            "The Cargo project built no binary of its own. The candidate must be a program: give the package a "
            "src/main.rs or a [[bin]] target (or set [language.rust] package / bin to the one to run)."
        )
    names = ", ".join(sorted(a["target"]["name"] for a in bins))
    return None, f"The Cargo project builds several binaries ({names}); set [language.rust] bin (and package, in a workspace) to the one to run."


def build_cargo(ctx: BuildContext, settings: RustSettings, manifest: str) -> BuildResult:
    rustc, cargo = resolve(settings.rustc, settings.cargo)
    if cargo is None:
        raise ToolchainError(
            f"The candidate is a Cargo project ({manifest}) but cargo ('{settings.cargo}') is not installed. "
            f"Install it (rustup, or `apt-get install cargo`) or set [language.rust] cargo to its full path."
        )
    config = cargo_config_args(settings, rustc)
    out_dir = make_build_dir(ctx.workdir)
    started = time.monotonic()
    with _target_dir(ctx, settings) as target:
        _touch_sources(ctx.workdir, target)
        argv = [
            cargo, "build",
            "--profile", settings.profile,
            "--message-format=json",
            "--manifest-path", manifest,
            "--target-dir", str(target),
            *config,
            *_target_selection(settings),
        ]
        result = ctx.run(argv, timeout_s=ctx.timeout_s, cwd=str(ctx.workdir))
        seconds = time.monotonic() - started
        diags, artifacts = parse_cargo(result.stdout, result.stderr)
        own = [a for a in artifacts if _is_local(a.get("package_id", ""))]
        log = diags.render(str(ctx.workdir), settings.max_errors, settings.max_warnings)
        metrics = {
            "build_errors": float(len(diags.errors)),
            "build_warnings": float(len(diags.warnings)),
            "crates_compiled": float(sum(1 for a in artifacts if not a.get("fresh"))),
            "crates_fresh": float(sum(1 for a in artifacts if a.get("fresh"))),
        }
        if result.timed_out:
            return BuildResult(ok=False, log=f"cargo did not finish within {ctx.timeout_s:g} s and was stopped.\n{log}".strip(), seconds=seconds, metrics=metrics)
        if result.returncode != 0:
            return BuildResult(ok=False, log=log or f"cargo exited with status {result.returncode}.", seconds=seconds, metrics=metrics)
        binary, problem = _pick_binary(own, settings)
        if binary is None:
            return BuildResult(ok=False, log=problem, seconds=seconds, metrics=metrics)
        artifact = f"{BUILD_DIR}/{binary['target']['name']}"
        shutil.copy2(binary["executable"], ctx.workdir / artifact)
        for bench in own:
            if bench.get("executable") and "bench" in bench["target"]["kind"]:
                shutil.copy2(bench["executable"], out_dir / f"bench-{bench['target']['name']}")
    return BuildResult(ok=True, artifact=artifact, log=log, seconds=seconds, metrics=metrics)
