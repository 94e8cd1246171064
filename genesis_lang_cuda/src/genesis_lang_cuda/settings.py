"""`[language.cuda]` in genesis.toml."""

from __future__ import annotations

from typing import Literal

from genesis_core.language import LanguageSettings
from pydantic import Field


class CudaSettings(LanguageSettings):
    """nvcc, the GPU architectures to build for, and the resource report of ptxas."""

    nvcc: str = Field("nvcc", description="The CUDA compiler: a name on PATH or a full path (/usr/local/cuda/bin/nvcc).")
    architectures: list[str] = Field(
        default_factory=list,
        description="GPU architectures: one entry ('sm_90', 'native', 'all-major') becomes -arch=; several ('sm_80', 'sm_90') become one -gencode each plus PTX of the last; empty: nvcc's default.",
    )
    std: str = Field("c++17", description="Language standard (-std=).")
    opt_level: Literal["0", "1", "2", "3"] = Field("3", description="Host-code optimisation level (-O); device code is always optimised by ptxas.")
    host_compiler: str | None = Field(None, description="Host compiler for nvcc (-ccbin), e.g. 'g++-12'; None: nvcc's default.")
    flags: list[str] = Field(default_factory=list, description="Further nvcc flags ('--use_fast_math', '-lineinfo', '-rdc=true').")
    link_flags: list[str] = Field(default_factory=list, description="Further link flags and libraries ('-lcublas').")
    sources: list[str] = Field(default_factory=list, description="Files to compile, relative to the candidate folder; empty: every .cu and .cpp file of the candidate.")
    output: str = Field("program", description="Name of the built executable.")
    resource_report: bool = Field(True, description="Ask ptxas for each kernel's registers, shared memory and spills (-Xptxas -v), for the log and metrics.")
    max_errors: int = Field(5, ge=1, description="Compiler errors kept in the build log the next prompt sees.")
    max_warnings: int = Field(3, ge=0, description="Compiler warnings kept in the build log.")
