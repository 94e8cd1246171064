"""examples/vector_cuda: compiled here; its evaluator checked against a CPU stand-in; run where a GPU is."""

from __future__ import annotations

from pathlib import Path

import pytest
from cuda_machine import require_gpu, require_no_gpu, require_nvcc
from genesis_core.config import load_config
from genesis_core.job import FailureReason, Job
from genesis_core.worker import run_job

TASK = Path(__file__).resolve().parents[2] / "examples" / "vector_cuda"

# The example's command line (N REPS x.bin y.bin) on the CPU, to check the evaluator's arithmetic here.
CPU_STAND_IN = r"""
#include <cstdio>
#include <cstdlib>
#include <vector>

double dot(const std::vector<float>& x, const std::vector<float>& y) {
    double sum = 0.0;
    for (size_t i = 0; i < x.size(); ++i) sum += double(x[i]) * y[i];
    return sum;
}

int main(int argc, char** argv) {
    int n = std::atoi(argv[1]), reps = std::atoi(argv[2]);
    std::vector<float> x(n), y(n);
    FILE* fx = std::fopen(argv[3], "rb");
    FILE* fy = std::fopen(argv[4], "rb");
    if (std::fread(x.data(), 4, n, fx) != size_t(n) || std::fread(y.data(), 4, n, fy) != size_t(n)) return 2;
    volatile double result = 0.0;
    for (int r = 0; r < reps; ++r) result = dot(x, y);
    std::printf("%.17g\n", double(result));
}
"""


def example_job(language: str, files: dict[str, str], main_file: str) -> Job:
    config = load_config(TASK)
    settings = (config.language.model_extra or {}).get(language, {})
    return Job(id=f"vector-{language}", language=language, language_settings=settings, files=files, main_file=main_file,
               task_dir=str(TASK), limits=config.limits)


def test_the_example_builds_here_and_needs_a_gpu_to_run():
    require_nvcc()
    require_no_gpu()
    result = run_job(example_job("cuda", {"main.cu": (TASK / "main.cu").read_text()}, "main.cu"))
    assert result.failure == FailureReason.NEEDS_GPU, f"{result.failure}: {result.error}"
    assert "kernel dot_partial(float const*, float const*, float*, int) (sm_90)" in result.artifacts["build_log"]


@pytest.mark.slow
def test_the_evaluator_scores_a_correct_program():
    result = run_job(example_job("cpp", {"main.cpp": CPU_STAND_IN}, "main.cpp"))
    assert result.ok, f"{result.failure}: {result.error}"
    assert result.score == pytest.approx(8 * (1 << 22) / (result.metrics["dot_us"] * 1e-6) / 1e9)
    assert result.metrics[f"run_{2001}_s"] > result.metrics["run_1_s"]


def test_the_evaluator_catches_a_wrong_sum():
    wrong = CPU_STAND_IN.replace("for (size_t i = 0;", "for (size_t i = 1;")
    result = run_job(example_job("cpp", {"main.cpp": wrong}, "main.cpp"))
    assert result.failure == FailureReason.INCORRECT
    assert "Wrong result: for n=1 " in result.error


@pytest.mark.slow
def test_the_baseline_runs_on_a_gpu():
    require_nvcc()
    require_gpu()
    result = run_job(example_job("cuda", {"main.cu": (TASK / "main.cu").read_text()}, "main.cu"))
    assert result.ok, f"{result.failure}: {result.error}"
    assert result.score > 0
