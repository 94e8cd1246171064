"""The Rust language: single `.rs` files through rustc, Cargo projects through cargo."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from genesis_core.language import BuildContext, BuildResult, Language, LanguageSettings
from genesis_core.task_template import printed_point_task

from genesis_lang_rust.cargo_build import build_cargo, find_manifest
from genesis_lang_rust.rustc_build import build_single_file
from genesis_lang_rust.settings import RustSettings
from genesis_lang_rust.toolchain import ToolchainError, resolve

HINTS = """\
Rust performance, in order of usual payoff:
- Ownership and borrowing: pass `&[T]` / `&str` instead of cloning `Vec`s and `String`s; reuse buffers (`clear()` keeps capacity) instead of allocating in hot loops; `Vec::with_capacity` when the size is known.
- Iterators over indexing: `iter().zip()`, `chunks_exact()`, `windows()` let the compiler drop bounds checks and vectorise; index only when the pattern needs it, and hoist `assert!(i < v.len())` before a loop to remove per-iteration checks.
- SIMD: write loops the auto-vectoriser recognises (straight-line bodies over `chunks_exact`, no early exits), or use `core::arch` intrinsics (`std::arch::x86_64::_mm256_*` behind `#[target_feature(enable = "avx2")]` with a runtime `is_x86_feature_detected!`); `std::simd` needs nightly.
- Zero-copy parsing: read all input at once (`read_to_end`), parse from byte slices (`&[u8]`) without building intermediate `String`s, and write output through one `BufWriter` (or build one `Vec<u8>` and write it once).
- Data layout: flat `Vec<T>` with computed offsets instead of `Vec<Vec<T>>`; struct-of-arrays for hot fields; small integer types (`u8`, `u16`, `u32`) where ranges allow.
- Avoid: `HashMap` with the default SipHash in hot paths (a simple array or a faster hasher is often enough), `Box<dyn Trait>` calls inside loops, `format!` and `to_string` per element, `.collect()` of temporaries that are iterated once."""


class RustLanguage(Language):
    """Rust candidates: a single file compiled by rustc, or a Cargo project (several files, a workspace, crate dependencies)."""

    name = "rust"
    extensions = (".rs",)
    comment = "//"
    description = "Rust: single files through rustc, Cargo projects through cargo (offline, shared incremental target folders), criterion benches."
    toolchain = ("rustc", "cargo")
    Settings: ClassVar[type[LanguageSettings]] = RustSettings
    settings: RustSettings

    def check_syntax(self, files: dict[str, str], main_file: str) -> str | None:
        """Every Cargo.toml must be valid TOML; rustc checks the Rust itself during the build."""
        for path, text in files.items():
            if path.rsplit("/", 1)[-1] != "Cargo.toml":
                continue
            try:
                tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                return f"{path} is not valid TOML: {exc}"
        return None

    def build(self, ctx: BuildContext) -> BuildResult:
        files = [str(p.relative_to(ctx.workdir)) for p in ctx.workdir.rglob("Cargo.toml")]
        manifest = find_manifest(files, ctx.main_file)
        if manifest is None:
            return build_single_file(ctx, self.settings)
        return build_cargo(ctx, self.settings, manifest)

    def sandbox_paths(self) -> list[str]:
        """The toolchain's sysroot (rustup keeps it under the home folder) and the crate source folder."""
        try:
            rustc, cargo = resolve(self.settings.rustc, self.settings.cargo)
        except ToolchainError:
            return []  # the build says what is missing
        paths = {str(Path(rustc).resolve().parent.parent)}
        if cargo:
            paths.add(str(Path(cargo).resolve().parent.parent))
        if self.settings.registry_dir:
            paths.add(str(Path(self.settings.registry_dir).expanduser()))
        return sorted(paths)

    def task_template(self) -> dict[str, str]:
        """The starter task of `genesis init --language rust`."""
        return printed_point_task("rust", "main.rs", TASK_PROGRAM)

    def run_command(self, artifact: str, args: Sequence[str] = ()) -> list[str]:
        return [artifact if "/" in artifact else f"./{artifact}", *args]

    def hints(self) -> str:
        return HINTS


# The program of the starter task (see genesis_core.task_template).
TASK_PROGRAM = '''// The program Genesis evolves: only the lines between the EVOLVE-BLOCK markers change.
fn main() {
    // EVOLVE-BLOCK-START
    let mut x: f64 = 0.5;
    let y: f64 = 0.5;
    let step: f64 = 0.25;
    for _ in 0..4 {
        x = x + step;
    }
    // EVOLVE-BLOCK-END
    println!("{} {}", x, y);
}
'''
