"""Compile reuse: rebuilding a one-line change of the Rust example against a cold build.

Each build is a job through the real worker (`genesis_core.worker.run_job`),
in the sandbox, with the example's files and a run's shared build cache, as
the engine sends it; the time is the build time the worker reports. Cold:
an empty build cache, so the crate's dependencies (rayon and its own, from
Debian's packaged crates as the offline registry) compile too. Then
`rebuilds` candidates (3; 1 with --quick), each the example with one line
added inside its EVOLVE-BLOCK, reuse the cache; the row gives their median.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from genesis_core.errors import GenesisError
from genesis_core.job import Job, Limits

from bench.report import Row, Target
from bench.stats import median

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "mask_to_seg_rust"
REGISTRY = Path("/usr/share/cargo/registry")
RATIO_TARGET = 1 / 3
EVALUATOR = '''"""Builds are what is measured: the evaluator only checks that there is a binary."""


def evaluate(candidate):
    return {"score": 1.0 if candidate.artifact_path.is_file() else 0.0, "correct": candidate.artifact_path.is_file()}
'''
MARKER = "// EVOLVE-BLOCK-START"


def example_files() -> dict[str, str]:
    """The example's sources: Cargo.toml and everything under src/."""
    if not (EXAMPLE / "Cargo.toml").is_file():
        raise GenesisError(f"The Rust example is missing: no Cargo.toml in {EXAMPLE}.")
    files = {"Cargo.toml": (EXAMPLE / "Cargo.toml").read_text()}
    for path in sorted((EXAMPLE / "src").rglob("*.rs")):
        files[path.relative_to(EXAMPLE).as_posix()] = path.read_text()
    return files


def main_file(files: dict[str, str]) -> str:
    for name, text in files.items():
        if MARKER in text:
            return name
    raise GenesisError(f"No file of the Rust example {EXAMPLE} holds an EVOLVE-BLOCK ({MARKER}).")


def one_line_change(text: str, n: int) -> str:
    """The program with one line added right after the EVOLVE-BLOCK-START marker."""
    head, marker, tail = text.partition(MARKER)
    return f"{head}{marker}\n#[allow(dead_code)] const GENESIS_BENCH_EDIT: u32 = {n};{tail}"


def _build(files: dict[str, str], main: str, task_dir: Path, cache: Path, n: int) -> float:
    from genesis_core.worker import run_job

    job = Job(
        id=f"bench-rust-{n}", run_id="bench", language="rust",
        language_settings={"registry_dir": str(REGISTRY)} if REGISTRY.is_dir() else {},
        files=files, main_file=main, task_dir=str(task_dir), evaluator="evaluate.py",
        limits=Limits(wall_time_s=900, memory_mb=8192), shared_build_dir=str(cache),
    )
    result = run_job(job)
    if not result.ok:
        raise GenesisError(f"Building the Rust example failed ({result.failure}): {result.error[:1500]}")
    return result.build_seconds


def run(workdir: Path, rebuilds: int = 3) -> list[Row]:
    if shutil.which("cargo") is None:
        raise GenesisError("cargo is not on PATH: install Rust (rustup, or apt-get install cargo) to measure compile reuse.")
    files = example_files()
    main = main_file(files)
    task_dir = workdir / "task"
    task_dir.mkdir(parents=True)
    (task_dir / "evaluate.py").write_text(EVALUATOR)
    cache = workdir / "build-cache"
    cold = _build(files, main, task_dir, cache, 0)
    times = [_build({**files, main: one_line_change(files[main], n)}, main, task_dir, cache, n) for n in range(1, rebuilds + 1)]
    warm = median(times)
    details = {"rebuild_seconds": [round(s, 3) for s in times], "registry": str(REGISTRY) if REGISTRY.is_dir() else None}
    return [
        Row("compile.cold_s", "Rust example, cold build (dependencies included)", cold, "s"),
        Row("compile.rebuild_s", "Rust example, one-line change rebuild (median)", warm, "s", details=details),
        Row("compile.ratio", "Rust one-line change rebuild / cold build", warm / cold, "x", Target("<", RATIO_TARGET)),
    ]
