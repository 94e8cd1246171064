"""Fixtures for genesis-lang-rust: jobs through the real worker, Debian's crates as the offline registry."""

from __future__ import annotations

import shutil
import textwrap
import uuid
from pathlib import Path

import pytest
from genesis_core.job import Job, JobResult, Limits

DEBIAN_REGISTRY = Path("/usr/share/cargo/registry")

# An evaluator that runs the program and passes its output on as feedback.
ECHO_EVALUATOR = '''
from genesis_core.evaluation import EvaluationResult, check_process

def evaluate(candidate):
    result = check_process(candidate.run([], timeout=60))
    return EvaluationResult(score=1.0, feedback=result.stdout, artifacts={"stdout": result.stdout})
'''


def require_rust() -> None:
    missing = [exe for exe in ("rustc", "cargo") if shutil.which(exe) is None]
    if missing:
        pytest.skip(f"the Rust toolchain is not installed here: {', '.join(missing)} not on PATH (rustup: add ~/.cargo/bin to PATH)")


@pytest.fixture(scope="session")
def debian_registry() -> Path:
    """Debian's packaged crates as a directory source; skipped with the install command when absent."""
    wanted = ("rand-0.8", "rayon-1.", "criterion-0.3")
    have = [p.name for p in DEBIAN_REGISTRY.iterdir()] if DEBIAN_REGISTRY.is_dir() else []
    missing = [w for w in wanted if not any(name.startswith(w) for name in have)]
    if missing:
        pytest.skip(
            f"Debian's Rust crates are not installed ({', '.join(missing)} missing from {DEBIAN_REGISTRY}): "
            f"apt-get install librust-criterion-dev librust-rand-dev librust-rayon-dev"
        )
    return DEBIAN_REGISTRY


@pytest.fixture(scope="session")
def shared_build_dir(tmp_path_factory) -> Path:
    """One run's build cache for the whole session, so crates compile once."""
    return tmp_path_factory.mktemp("rust-build-cache")


@pytest.fixture
def run_rust(tmp_path):
    """Run one Rust job through the worker: run_rust(files, main_file, settings=..., evaluator=..., shared=...)."""

    def run(
        files: dict[str, str],
        main_file: str,
        *,
        settings: dict | None = None,
        evaluator: str = ECHO_EVALUATOR,
        shared: Path | None = None,
        wall_time_s: float = 300,
    ) -> JobResult:
        from genesis_core.worker import run_job

        require_rust()
        task = tmp_path / f"task-{uuid.uuid4().hex[:6]}"
        task.mkdir()
        (task / "evaluate.py").write_text(evaluator)
        job = Job(
            id=f"rust-{uuid.uuid4().hex[:8]}",
            language="rust",
            language_settings=settings or {},
            files={name: textwrap.dedent(text).lstrip() for name, text in files.items()},
            main_file=main_file,
            task_dir=str(task),
            limits=Limits(wall_time_s=wall_time_s, memory_mb=4096),
            shared_build_dir=str(shared) if shared else None,
        )
        return run_job(job)

    return run


@pytest.fixture
def rust_sandbox(tmp_path, shared_build_dir):
    """A started sandbox for building by hand: (sandbox, make_context(folder_name, files) -> BuildContext)."""
    from genesis_core.language import BuildContext
    from genesis_core.sandbox import Sandbox, SandboxSpec

    from genesis_lang_rust import RustLanguage

    require_rust()
    limits = Limits(wall_time_s=600, memory_mb=4096)
    spec = SandboxSpec(read_only=tuple(RustLanguage().sandbox_paths()), writable=(str(shared_build_dir),))
    sandbox = Sandbox(tmp_path / "jobs", spec).start()

    def make_context(name: str, files: dict[str, str]) -> BuildContext:
        folder = sandbox.new_workdir(name)
        for rel, text in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(textwrap.dedent(text).lstrip())
        sandbox.adopt_workdir(folder)

        def run(argv, input=None, timeout_s=None, cwd=None, env=None):
            return sandbox.run(argv, cwd=Path(cwd or folder), limits=limits, input=input, timeout=timeout_s, env=env)

        return BuildContext(workdir=folder, main_file="app/src/main.rs", shared_build_dir=shared_build_dir, run=run, timeout_s=600)

    try:
        yield sandbox, make_context
    finally:
        sandbox.close()
