"""`[language.rust]` in genesis.toml."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from genesis_core.language import LanguageSettings
from pydantic import Field


class RustSettings(LanguageSettings):
    """How candidates are compiled. Single files go to rustc; a candidate with a Cargo.toml goes to cargo."""

    rustc: str = Field("rustc", description="The Rust compiler: a name on PATH or a full path.")
    cargo: str = Field("cargo", description="Cargo: a name on PATH or a full path (used when the candidate has a Cargo.toml).")
    edition: Literal["2015", "2018", "2021", "2024"] = Field("2021", description="Edition of single-file builds (a Cargo.toml names its own).")
    opt_level: Literal["0", "1", "2", "3", "s", "z"] = Field("3", description="rustc -C opt-level of single-file builds (Cargo projects use their profile).")
    target_cpu: str | None = Field(
        None, description="-C target-cpu for every build: 'native' for this machine, a named CPU ('x86-64-v3', 'znver4'), or None for rustc's portable default."
    )
    rustc_flags: list[str] = Field(default_factory=list, description="Further rustc flags, for single files and (as RUSTFLAGS) for Cargo builds.")
    profile: str = Field("release", description="Cargo profile of the build (`release`, `bench` or one the Cargo.toml defines).")
    package: str | None = Field(None, description="Workspace member whose binary is the candidate (cargo -p); needed when several members have binaries.")
    bin: str | None = Field(None, description="Binary target that is the candidate (cargo --bin); needed when a package has several.")
    features: list[str] = Field(default_factory=list, description="Cargo features to enable.")
    benches: list[str] = Field(
        default_factory=list, description="Criterion benches to build with the candidate (cargo bench --no-run --bench NAME); the evaluator runs them with genesis_lang_rust.criterion."
    )
    registry_dir: str | None = Field(
        None,
        description="An absolute directory source that replaces crates.io (the output of `cargo vendor`, or Debian's /usr/share/cargo/registry); builds then need no network.",
    )
    offline: bool = Field(True, description="Run cargo with --offline (candidates are built without network anyway).")
    cargo_config: list[str] = Field(default_factory=list, description="Further `cargo --config KEY=VALUE` settings, for example 'profile.release.lto=true'.")
    shared_target: bool = Field(True, description="Share compiled dependencies between the candidates of a run (a target folder in the run's build cache).")
    build_slots: int = Field(2, ge=1, le=64, description="Shared target folders, so that this many builds of one run can go on at once.")
    max_errors: int = Field(5, ge=1, description="Compiler errors kept in the build log the next prompt sees.")
    max_warnings: int = Field(3, ge=0, description="Compiler warnings kept in the build log.")

# Where a build leaves its executables, relative to the job folder.
BUILD_DIR = ".genesis-build"


def make_build_dir(workdir: Path) -> Path:
    """The job's build folder, as writable as the job folder itself (the sandboxed compiler writes there)."""
    folder = workdir / BUILD_DIR
    folder.mkdir(exist_ok=True)
    os.chmod(folder, workdir.stat().st_mode & 0o7777)
    return folder
