"""Compiling a CUDA candidate with nvcc: each source to an object, then one link.

Every tool runs through the sandbox runner of the build context. nvcc's
intermediate files go next to the objects (-objtemp), inside the job folder.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from genesis_core.errors import GenesisError
from genesis_core.language import BuildContext, BuildResult
from genesis_lang_cpp.diagnostics import Diagnostics, parse
from genesis_lang_cpp.settings import BUILD_DIR, make_build_dir

from genesis_lang_cuda.resources import Kernel, is_ptxas_line, parse_ptxas
from genesis_lang_cuda.settings import CudaSettings

SOURCE_EXTENSIONS = (".cu", ".cpp", ".cc", ".cxx")


class NvccNotFound(GenesisError):
    """nvcc is not installed where the build runs."""


def nvcc_path(settings: CudaSettings) -> str:
    path = shutil.which(settings.nvcc)
    if path is None:
        raise NvccNotFound(
            f"The CUDA compiler '{settings.nvcc}' is not on PATH. Install the CUDA toolkit "
            f"(https://developer.nvidia.com/cuda-downloads; it puts nvcc in /usr/local/cuda/bin), add it to PATH, "
            f"or set [language.cuda] nvcc to its full path."
        )
    return path


def nvcc_version(nvcc: str) -> str | None:
    """nvcc's release line ('Cuda compilation tools, release 13.0, V13.0.88') rather than its banner."""
    path = shutil.which(nvcc)
    if path is None:
        return None
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"found at {path}, but `nvcc --version` failed: {exc}"
    lines = [line.strip() for line in out.splitlines() if "release" in line]
    return lines[0] if lines else f"found at {path}"


def arch_flags(architectures: list[str]) -> list[str]:
    """-arch for one architecture; -gencode per architecture, plus PTX of the last, for several."""
    if not architectures:
        return []
    if len(architectures) == 1:
        return [f"-arch={architectures[0]}"]
    flags = []
    for arch in architectures:
        number = arch.split("_", 1)[-1]
        flags += ["-gencode", f"arch=compute_{number},code=sm_{number}"]
    last = architectures[-1].split("_", 1)[-1]
    return [*flags, "-gencode", f"arch=compute_{last},code=compute_{last}"]


def find_sources(workdir: Path, settings: CudaSettings) -> list[str]:
    if settings.sources:
        return list(settings.sources)
    found = []
    for path in sorted(workdir.rglob("*")):
        relative = path.relative_to(workdir)
        if relative.parts[0] != BUILD_DIR and path.is_file() and path.suffix in SOURCE_EXTENSIONS:
            found.append(relative.as_posix())
    return found


def common_flags(settings: CudaSettings) -> list[str]:
    flags = [f"-std={settings.std}", f"-O{settings.opt_level}", *arch_flags(settings.architectures)]
    if settings.host_compiler:
        flags += ["-ccbin", settings.host_compiler]
    return [*flags, *settings.flags]


def build(ctx: BuildContext, settings: CudaSettings) -> BuildResult:
    nvcc = nvcc_path(settings)
    sources = find_sources(ctx.workdir, settings)
    if not sources:
        return BuildResult(ok=False, log=f"No CUDA source file ({', '.join(SOURCE_EXTENSIONS)}) in the candidate; nothing to compile.")
    make_build_dir(ctx.workdir)
    started = time.monotonic()
    deadline = started + ctx.timeout_s
    diags = Diagnostics()
    kernels: list[Kernel] = []
    objects = []
    for source in sources:
        obj = f"{BUILD_DIR}/" + re.sub(r"[^A-Za-z0-9_.-]", "_", source) + ".o"
        argv = [nvcc, *common_flags(settings), "-c", source, "-o", obj, "-objtemp"]
        if settings.resource_report and source.endswith(".cu"):
            argv += ["-Xptxas", "-v"]
        result = ctx.run(argv, timeout_s=max(1.0, deadline - time.monotonic()), cwd=str(ctx.workdir))
        output = f"{result.stdout}\n{result.stderr}"
        kernels += parse_ptxas(output)
        diags.extend(parse("\n".join(line for line in output.splitlines() if not is_ptxas_line(line))))
        if result.timed_out or result.returncode != 0:
            summary = (
                f"Compiling {source} did not finish within {ctx.timeout_s:g} s and was stopped."
                if result.timed_out
                else f"nvcc exited with status {result.returncode} on {source}."
            )
            return _result(ctx, settings, diags, kernels, started, ok=False, summary=summary)
        objects.append(obj)
    _demangle(ctx, kernels, deadline)
    program = f"{BUILD_DIR}/{settings.output}"
    result = ctx.run([nvcc, *common_flags(settings), *objects, "-o", program, *settings.link_flags],
                     timeout_s=max(1.0, deadline - time.monotonic()), cwd=str(ctx.workdir))
    diags.extend(parse(f"{result.stdout}\n{result.stderr}"))
    if result.returncode != 0:
        return _result(ctx, settings, diags, kernels, started, ok=False, summary=f"Linking failed (status {result.returncode}).")
    return _result(ctx, settings, diags, kernels, started, ok=True, artifact=program)



def _demangle(ctx: BuildContext, kernels: list[Kernel], deadline: float) -> None:
    """Readable kernel names (`_Z1kPfi` -> `k(float*, int)`) when c++filt is installed."""
    filt = shutil.which("c++filt")
    names = sorted({k.name for k in kernels})
    if filt is None or not names:
        return
    result = ctx.run([filt, *names], timeout_s=max(1.0, deadline - time.monotonic()), cwd=str(ctx.workdir))
    plain = result.stdout.splitlines()
    if result.returncode == 0 and len(plain) == len(names):
        readable = dict(zip(names, plain, strict=True))
        for kernel in kernels:
            kernel.name = readable[kernel.name]


def _result(ctx: BuildContext, settings: CudaSettings, diags: Diagnostics, kernels: list[Kernel], started: float, *,
            ok: bool, artifact: str | None = None, summary: str = "") -> BuildResult:
    log = diags.render(str(ctx.workdir), settings.max_errors, settings.max_warnings)
    metrics = {"build_errors": float(len(diags.errors)), "build_warnings": float(len(diags.warnings))}
    if ok and kernels:
        log = "\n".join(part for part in (log, "Kernel resources (ptxas):", *(f"  {k.describe()}" for k in kernels)) if part)
        metrics["kernels"] = float(len(kernels))
        metrics["max_registers"] = float(max(k.registers for k in kernels))
        metrics["max_shared_bytes"] = float(max(k.shared_bytes for k in kernels))
        metrics["spill_bytes"] = float(sum(k.spill_bytes for k in kernels))
    if not ok and not log:
        log = summary
    return BuildResult(ok=ok, artifact=artifact, log=log, seconds=time.monotonic() - started, metrics=metrics)
