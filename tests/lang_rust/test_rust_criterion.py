"""Benchmark-driven fitness: a criterion bench built with the candidate, run in the sandbox, read into metrics."""

from __future__ import annotations

import json

import pytest
from genesis_core.job import FailureReason
from genesis_lang_rust.criterion import CriterionError, parse_estimates, read_estimates

PROJECT = {
    "Cargo.toml": """
        [package]
        name = "sums"
        version = "0.1.0"
        edition = "2021"

        [dev-dependencies]
        criterion = "0.3"

        [[bench]]
        name = "speed"
        harness = false
    """,
    "src/lib.rs": """
        // EVOLVE-BLOCK-START
        pub fn sum_of_squares(values: &[u64]) -> u64 {
            values.iter().map(|v| v * v).sum()
        }
        // EVOLVE-BLOCK-END
    """,
    "src/main.rs": """
        fn main() {
            let values: Vec<u64> = (1..=10).collect();
            println!("{}", sums::sum_of_squares(&values));
        }
    """,
    "benches/speed.rs": """
        use criterion::{black_box, criterion_group, criterion_main, Criterion};

        fn bench(c: &mut Criterion) {
            let values: Vec<u64> = (0..1000).collect();
            c.bench_function("sum_of_squares", |b| b.iter(|| sums::sum_of_squares(black_box(&values))));
        }

        criterion_group!(benches, bench);
        criterion_main!(benches);
    """,
}

BENCH_EVALUATOR = '''
from genesis_core.evaluation import EvaluationResult, check_process
from genesis_lang_rust.criterion import metrics, run_bench

def evaluate(candidate):
    answer = check_process(candidate.run([], timeout=30)).stdout.strip()
    if answer != "385":
        return EvaluationResult(score=0.0, correct=False, feedback=f"expected 385, got {answer!r}")
    estimates = run_bench(candidate, "speed", warm_up_s=1, measurement_s=1, sample_size=10, timeout=120)
    mean = estimates["sum_of_squares"].mean_ns
    return EvaluationResult(score=1e6 / mean, metrics=metrics(estimates))
'''


@pytest.mark.slow
@pytest.mark.timeout(1500)  # criterion and its dependencies compile once per session: about 90 s on two idle cores
def test_criterion_bench_scores_the_candidate(run_rust, debian_registry, shared_build_dir):
    settings = {"registry_dir": str(debian_registry), "benches": ["speed"]}
    result = run_rust(PROJECT, "src/lib.rs", settings=settings, evaluator=BENCH_EVALUATOR, shared=shared_build_dir, wall_time_s=900)
    assert result.ok, f"{result.failure}: {result.error}\n{result.artifacts}"
    m = result.metrics
    low, mean, high = m["bench.sum_of_squares.mean_low_ns"], m["bench.sum_of_squares.mean_ns"], m["bench.sum_of_squares.mean_high_ns"]
    assert 0 < low <= mean <= high
    assert result.score == pytest.approx(1e6 / mean)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_bench_that_was_not_built_is_a_task_error(run_rust, debian_registry, shared_build_dir):
    evaluator = BENCH_EVALUATOR.replace('"speed"', '"missing"')
    result = run_rust(PROJECT, "src/lib.rs", settings={"registry_dir": str(debian_registry)}, evaluator=evaluator, shared=shared_build_dir, wall_time_s=900)
    assert result.failure == FailureReason.EVALUATOR_ERROR
    assert 'benches = ["missing"]' in result.error


def test_estimates_are_read_by_benchmark_id(tmp_path):
    new = tmp_path / "group" / "fast" / "new"
    new.mkdir(parents=True)
    (new / "benchmark.json").write_text(json.dumps({"full_id": "group/fast"}))
    (new / "estimates.json").write_text(json.dumps({
        "mean": {"confidence_interval": {"confidence_level": 0.95, "lower_bound": 9.0, "upper_bound": 11.0}, "point_estimate": 10.0},
        "median": {"point_estimate": 9.5},
        "std_dev": {"point_estimate": 0.5},
    }))
    (tmp_path / "group" / "fast" / "base").mkdir()  # criterion's copy of the previous run is not read
    estimates = read_estimates(tmp_path)
    assert list(estimates) == ["group/fast"]
    assert estimates["group/fast"].metrics() == {
        "bench.group/fast.mean_ns": 10.0,
        "bench.group/fast.mean_low_ns": 9.0,
        "bench.group/fast.mean_high_ns": 11.0,
        "bench.group/fast.median_ns": 9.5,
        "bench.group/fast.std_dev_ns": 0.5,
    }


def test_estimates_without_a_mean_are_refused():
    with pytest.raises(CriterionError, match="mean.point_estimate"):
        parse_estimates("x", {"median": {}})
