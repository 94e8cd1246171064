"""nvcc builds through the real worker: architecture flags, ptxas resources, trimmed errors."""

from __future__ import annotations

import textwrap
import uuid

import pytest
from cuda_machine import CUDA_ADDRESS_SPACE_MB, require_gpu, require_nvcc
from genesis_core.job import FailureReason, Job, Limits
from genesis_lang_cuda.build import arch_flags
from genesis_lang_cuda.resources import parse_ptxas

from genesis_lang_cuda import CudaLanguage

KERNEL = {
    "main.cu": """
        #include <cstdio>

        // EVOLVE-BLOCK-START
        __global__ void scale(float* v, float a, int n) {
            __shared__ float tile[256];
            int i = blockIdx.x * blockDim.x + threadIdx.x;
            tile[threadIdx.x] = i < n ? v[i] : 0.0f;
            __syncthreads();
            if (i < n) v[i] = a * tile[threadIdx.x];
        }
        // EVOLVE-BLOCK-END

        int main() {
            const int n = 1000;
            float host[n];
            for (int i = 0; i < n; ++i) host[i] = i;
            float* device;
            cudaMalloc(&device, sizeof(host));
            cudaMemcpy(device, host, sizeof(host), cudaMemcpyHostToDevice);
            scale<<<(n + 255) / 256, 256>>>(device, 2.0f, n);
            cudaMemcpy(host, device, sizeof(host), cudaMemcpyDeviceToHost);
            std::printf("%.0f\\n", host[999]);
        }
    """
}

RUN_EVALUATOR = '''
from genesis_core.evaluation import EvaluationResult, check_process

def evaluate(candidate):
    out = check_process(candidate.run([], timeout=60)).stdout.strip()
    return EvaluationResult(score=1.0 if out == "1998" else 0.0, correct=out == "1998", feedback=out)
'''


def run_job(tmp_path, files, settings=None):
    from genesis_core.worker import run_job as worker_run

    require_nvcc()
    task = tmp_path / f"task-{uuid.uuid4().hex[:6]}"
    task.mkdir()
    (task / "evaluate.py").write_text(RUN_EVALUATOR)
    job = Job(
        id=f"cuda-{uuid.uuid4().hex[:6]}", language="cuda", language_settings=settings or {},
        files={k: textwrap.dedent(v).lstrip() for k, v in files.items()}, main_file="main.cu",
        task_dir=str(task), limits=Limits(wall_time_s=180, memory_mb=CUDA_ADDRESS_SPACE_MB),
    )
    return worker_run(job)


def test_build_reports_kernel_resources_for_each_architecture(tmp_path):
    result = run_job(tmp_path, KERNEL, {"architectures": ["sm_80", "sm_90"]})
    # Built either way; run only where a GPU is.
    assert result.failure in (None, FailureReason.NEEDS_GPU), f"{result.failure}: {result.error}"
    log = result.artifacts["build_log"]
    assert "kernel scale(float*, float, int) (sm_80)" in log
    assert "kernel scale(float*, float, int) (sm_90)" in log
    assert "1024 bytes shared memory" in log
    assert result.metrics["kernels"] == 2
    assert result.metrics["max_shared_bytes"] == 1024
    assert result.metrics["max_registers"] > 0


def test_compile_error_reaches_the_result(tmp_path):
    broken = {"main.cu": KERNEL["main.cu"].replace("a * tile[threadIdx.x]", "a * tile[threadIdx.x] + undefined_value")}
    result = run_job(tmp_path, broken)
    assert result.failure == FailureReason.BUILD_ERROR
    assert 'main.cu(9): error: identifier "undefined_value" is undefined' in result.artifacts["build_log"]
    assert "detected in the compilation" not in result.artifacts["build_log"]


def test_kernel_runs_on_a_gpu(tmp_path):
    require_gpu()
    result = run_job(tmp_path, KERNEL)
    assert result.ok, f"{result.failure}: {result.error}"


def test_arch_flags():
    assert arch_flags([]) == []
    assert arch_flags(["native"]) == ["-arch=native"]
    assert arch_flags(["sm_80", "sm_90"]) == [
        "-gencode", "arch=compute_80,code=sm_80",
        "-gencode", "arch=compute_90,code=sm_90",
        "-gencode", "arch=compute_90,code=compute_90",
    ]


def test_ptxas_report_is_parsed():
    text = """ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_Z5scalePffi' for 'sm_80'
ptxas info    : Function properties for _Z5scalePffi
    8 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads
ptxas info    : Used 40 registers, used 1 barriers, 1024 bytes smem, 372 bytes cmem[0]
"""
    (kernel,) = parse_ptxas(text)
    assert (kernel.name, kernel.arch, kernel.registers, kernel.shared_bytes, kernel.spill_bytes, kernel.stack_bytes) == ("_Z5scalePffi", "sm_80", 40, 1024, 8, 8)


def test_doctor_reports_nvcc_and_the_gpu_state():
    versions = CudaLanguage().toolchain_versions()
    if versions["nvcc"] is None:
        pytest.skip("nvcc is not installed here")
    assert "release" in versions["nvcc"]
    assert versions["gpu"]  # the GPUs, or why none is usable
