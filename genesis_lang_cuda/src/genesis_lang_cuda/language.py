"""The CUDA language: nvcc builds anywhere nvcc is installed; runs need an NVIDIA GPU."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from genesis_core.language import (
    BuildContext,
    BuildResult,
    Language,
    LanguageSettings,
    tool_version,
)

from genesis_lang_cuda import build as builder
from genesis_lang_cuda.gpu import gpu_devices, gpu_names, gpu_problem, needs_gpu_message
from genesis_lang_cuda.settings import CudaSettings

HINTS = """\
CUDA performance, in order of usual payoff:
- Coalesced global memory access: consecutive threads of a warp touch consecutive addresses (thread index on the fastest-varying dimension); use struct-of-arrays; vector loads (`float4`) where data is aligned.
- Shared memory tiling: stage tiles that several threads reuse in `__shared__` memory, synchronise with `__syncthreads()`, pad 2D tiles (`[32][33]`) to avoid bank conflicts.
- Occupancy: block sizes that are multiples of 32 (128-256 is a good start); keep registers per thread and shared memory per block low enough for several blocks per SM (the build log shows each kernel's registers, shared memory and spills); `__launch_bounds__` to cap registers.
- Warp divergence: keep branches uniform within a warp; for reductions use warp shuffles (`__shfl_down_sync`) inside a warp, shared memory across warps, and one atomic or a second pass across blocks.
- Launch configuration: enough blocks to fill every SM (grid-stride loops let one launch handle any size); fewer, larger kernels over many tiny launches; avoid host-device copies and `cudaDeviceSynchronize` inside loops.
- Arithmetic: `float` over `double` unless precision demands it; `__restrict__` and `const` on pointers; fused multiply-add (`fmaf`); intrinsics like `__expf` when the task's accuracy allows."""


class CudaLanguage(Language):
    """CUDA candidates: .cu (and host .cpp) files compiled by nvcc into one program that runs on an NVIDIA GPU."""

    name = "cuda"
    extensions = (".cu", ".cuh")
    comment = "//"
    description = "CUDA with nvcc: GPU architectures as settings, each kernel's registers/shared memory/spills in the build log; runs need a GPU backend."
    toolchain = ("nvcc",)
    needs_gpu = True
    Settings: ClassVar[type[LanguageSettings]] = CudaSettings
    settings: CudaSettings

    def build(self, ctx: BuildContext) -> BuildResult:
        return builder.build(ctx, self.settings)

    def run_command(self, artifact: str, args: Sequence[str] = ()) -> list[str]:
        return [artifact if "/" in artifact else f"./{artifact}", *args]

    def hints(self) -> str:
        return HINTS

    def runtime_problem(self) -> str | None:
        """Why a built candidate cannot run here (no GPU, no driver), or None; the worker then fails the job as NEEDS_GPU."""
        problem = gpu_problem()
        return None if problem is None else needs_gpu_message(problem)

    def sandbox_paths(self) -> list[str]:
        """The GPU device files (bound as devices), /sys for the driver's PCI lookups, and nvcc's toolkit."""
        paths = gpu_devices()
        if paths:
            paths.append("/sys")
        nvcc = shutil.which(self.settings.nvcc)
        if nvcc is not None:
            paths.append(str(Path(nvcc).resolve().parent.parent))
        return paths

    def toolchain_versions(self) -> dict[str, str | None]:
        """nvcc's release, the driver's nvidia-smi, and the GPUs this machine has (or why none is usable)."""
        problem = gpu_problem()
        return {
            self.settings.nvcc: builder.nvcc_version(self.settings.nvcc),
            "nvidia-smi": tool_version("nvidia-smi"),
            "gpu": gpu_names() if problem is None else f"none usable ({problem}); builds work, runs need a GPU backend",
        }
