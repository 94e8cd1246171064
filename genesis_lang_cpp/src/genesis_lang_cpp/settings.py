"""`[language.cpp]` in genesis.toml."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from genesis_core.language import LanguageSettings
from pydantic import Field

# Where a build leaves its object files and the program, relative to the job folder.
BUILD_DIR = ".genesis-build"


def make_build_dir(workdir: Path) -> Path:
    """The job's build folder, as writable as the job folder itself (the sandboxed compiler writes there)."""
    folder = workdir / BUILD_DIR
    folder.mkdir(exist_ok=True)
    os.chmod(folder, workdir.stat().st_mode & 0o7777)
    return folder


class CppSettings(LanguageSettings):
    """Compiler, flags per target machine, and the vectorisation report."""

    compiler: str = Field("g++", description="'g++', 'clang++', a versioned name ('g++-13') or a full path.")
    std: str = Field("c++17", description="Language standard (-std=).")
    opt_level: Literal["0", "1", "2", "3", "s", "fast", "g"] = Field("3", description="Optimisation level (-O).")
    march: str | None = Field(
        None,
        description="Target CPU (-march=): 'native' for the machine that builds, or a named target ('x86-64-v3', 'znver4', 'sapphirerapids', 'armv8.2-a') so one task can be tuned per machine type; None: the compiler's portable default.",
    )
    mtune: str | None = Field(None, description="CPU to tune scheduling for (-mtune=); None: follows -march.")
    flags: list[str] = Field(default_factory=list, description="Further compile flags, also passed when linking ('-fopenmp', '-ffast-math', '-DNDEBUG').")
    link_flags: list[str] = Field(default_factory=list, description="Further link flags and libraries ('-lpthread').")
    sources: list[str] = Field(
        default_factory=list, description="Translation units to compile, relative to the candidate folder; empty: every .cpp/.cc/.cxx file of the candidate."
    )
    output: str = Field("program", description="Name of the built executable.")
    vectorization_report: bool = Field(
        True, description="Ask the compiler which loops it vectorised and count SIMD instructions in the object code (metrics and build log)."
    )
    hot_functions: list[str] = Field(
        default_factory=list, description="Functions whose SIMD instructions are counted on their own, as metrics simd_instructions.<name>."
    )
    objdump: str = Field("objdump", description="Disassembler used to count SIMD instructions.")
    max_errors: int = Field(5, ge=1, description="Compiler errors kept in the build log the next prompt sees.")
    max_warnings: int = Field(3, ge=0, description="Compiler warnings kept in the build log.")
    max_report_lines: int = Field(12, ge=0, description="Loops listed in the vectorisation part of the build log.")
