"""What this machine offers for CUDA tests: nvcc, and a GPU (or not); each check skips with the reason."""

from __future__ import annotations

import shutil

import pytest
from genesis_lang_cuda.gpu import gpu_problem

# The CUDA runtime reserves a virtual address space as large as host and GPU memory together:
# a CUDA program needs the address-space limit (limits.memory_mb) far above its real use.
CUDA_ADDRESS_SPACE_MB = 16_000_000


def require_nvcc() -> None:
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not installed here (the CUDA toolkit puts it in /usr/local/cuda/bin)")


def require_gpu() -> None:
    problem = gpu_problem()
    if problem is not None:
        pytest.skip(f"running CUDA code needs an NVIDIA GPU: {problem}")


def require_no_gpu() -> None:
    if gpu_problem() is None:
        pytest.skip("this machine has a GPU; the no-GPU path is checked on machines without one")
