"""Benchmark-driven fitness: run a candidate's criterion bench and read its estimates.

A task lists its benches in `[language.rust] benches = ["speed"]`; the build
then also compiles them (`cargo build --bench speed`) and leaves each
executable in the job folder as `.genesis-build/bench-speed`. The evaluator
calls `run_bench(candidate, "speed")`: the bench runs inside the sandbox like
the candidate itself, criterion writes its analysis under the job folder
(`target/criterion/<id>/new/estimates.json`), and this module reads the mean
and its confidence interval for each benchmark into metrics:

    bench.<id>.mean_ns, bench.<id>.mean_low_ns, bench.<id>.mean_high_ns,
    bench.<id>.median_ns, bench.<id>.std_dev_ns

Criterion 0.3 and later write the same files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genesis_core.errors import GenesisError
from pydantic import BaseModel

from genesis_lang_rust.settings import BUILD_DIR

if TYPE_CHECKING:
    from genesis_core.evaluation import Candidate

# Where the bench writes its analysis, relative to the job folder (passed as CRITERION_HOME).
CRITERION_DIR = "target/criterion"


class CriterionError(GenesisError):
    """A bench could not be run or left no estimates."""


class Estimate(BaseModel):
    """One benchmark's timing, in nanoseconds per iteration."""

    id: str
    mean_ns: float
    mean_low_ns: float
    mean_high_ns: float
    confidence_level: float
    median_ns: float
    std_dev_ns: float

    def metrics(self) -> dict[str, float]:
        key = f"bench.{self.id}"
        return {
            f"{key}.mean_ns": self.mean_ns,
            f"{key}.mean_low_ns": self.mean_low_ns,
            f"{key}.mean_high_ns": self.mean_high_ns,
            f"{key}.median_ns": self.median_ns,
            f"{key}.std_dev_ns": self.std_dev_ns,
        }


def bench_artifact(bench: str) -> str:
    """The bench executable's path in the job folder."""
    return f"{BUILD_DIR}/bench-{bench}"


def bench_args(*, filter: str | None = None, warm_up_s: float = 1.0, measurement_s: float = 3.0, sample_size: int = 20) -> list[str]:
    """Command-line arguments for a criterion bench executable (criterion 0.3 wants whole seconds)."""
    args = [
        "--bench",
        "--noplot",
        "--warm-up-time", str(max(1, round(warm_up_s))),
        "--measurement-time", str(max(1, round(measurement_s))),
        "--sample-size", str(max(10, sample_size)),
    ]
    return [*args, filter] if filter else args


def run_bench(
    candidate: Candidate,
    bench: str,
    *,
    filter: str | None = None,
    warm_up_s: float = 1.0,
    measurement_s: float = 3.0,
    sample_size: int = 20,
    timeout: float | None = None,
) -> dict[str, Estimate]:
    """Run the criterion bench `bench` of a built candidate in the sandbox and return its estimates.

    A bench that crashes or runs out of time raises the matching
    `genesis_core.evaluation.CandidateError` (the candidate fails with that
    reason); a bench that was not built, or that measured nothing, raises
    `CriterionError` (the task's configuration is wrong).
    """
    from genesis_core.evaluation import check_process

    artifact = bench_artifact(bench)
    if not (candidate.workdir / artifact).is_file():
        raise CriterionError(
            f"The candidate has no built bench '{bench}' ({artifact} is missing). List it in genesis.toml as "
            f"[language.rust] benches = [\"{bench}\"], with a [[bench]] name = \"{bench}\", harness = false entry in Cargo.toml."
        )
    home = candidate.workdir / CRITERION_DIR
    args = bench_args(filter=filter, warm_up_s=warm_up_s, measurement_s=measurement_s, sample_size=sample_size)
    result = candidate.run(args, timeout=timeout, artifact=artifact, env={"CRITERION_HOME": str(home)})
    check_process(result, f"the bench '{bench}'")
    estimates = read_estimates(home)
    if not estimates:
        wanted = f" matching '{filter}'" if filter else ""
        raise CriterionError(
            f"The bench '{bench}' ran but measured no benchmark{wanted}; criterion wrote no estimates under {CRITERION_DIR}. "
            f"Check the filter and that the bench calls criterion_main!. Its output: {result.stdout[-500:]!r}"
        )
    return estimates


def read_estimates(folder: Path) -> dict[str, Estimate]:
    """Every benchmark under a criterion output folder, by its full id ('group/function/param')."""
    found: dict[str, Estimate] = {}
    for estimates_file in sorted(folder.glob("**/new/estimates.json")):
        new = estimates_file.parent
        bench_id = _benchmark_id(new / "benchmark.json") or new.parent.relative_to(folder).as_posix()
        found[bench_id] = parse_estimates(bench_id, json.loads(estimates_file.read_text()))
    return found


def _benchmark_id(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("full_id")
    except (OSError, ValueError):
        return None


def parse_estimates(bench_id: str, data: dict[str, Any]) -> Estimate:
    """An Estimate from the contents of criterion's estimates.json."""
    try:
        mean = data["mean"]
        interval = mean["confidence_interval"]
        return Estimate(
            id=bench_id,
            mean_ns=float(mean["point_estimate"]),
            mean_low_ns=float(interval["lower_bound"]),
            mean_high_ns=float(interval["upper_bound"]),
            confidence_level=float(interval["confidence_level"]),
            median_ns=float(data["median"]["point_estimate"]),
            std_dev_ns=float(data["std_dev"]["point_estimate"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CriterionError(
            f"criterion's estimates for '{bench_id}' lack the expected fields ({exc}); expected the estimates.json "
            f"of criterion 0.3 or later, with mean.point_estimate and mean.confidence_interval."
        ) from None


def metrics(estimates: dict[str, Estimate]) -> dict[str, float]:
    """All benchmarks' numbers as one metrics dict."""
    out: dict[str, float] = {}
    for estimate in estimates.values():
        out.update(estimate.metrics())
    return out
