"""Is there an NVIDIA GPU where the candidate would run?"""

from __future__ import annotations

import glob
import shutil
import subprocess


def gpu_devices() -> list[str]:
    """The NVIDIA device files of this machine (/dev/nvidia0, /dev/nvidiactl, /dev/nvidia-uvm ...)."""
    return sorted(glob.glob("/dev/nvidia*"))


def gpu_problem() -> str | None:
    """Why CUDA programs cannot run on this machine, or None when a GPU is usable.

    A GPU needs the driver's device files (/dev/nvidia0 ...) and a driver that
    answers `nvidia-smi -L` with at least one GPU.
    """
    devices = [d for d in glob.glob("/dev/nvidia[0-9]*") if d[len("/dev/nvidia"):].isdigit()]
    if not devices:
        return "no NVIDIA GPU device (/dev/nvidia0, ...) on this machine"
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "NVIDIA device files exist but nvidia-smi (the driver's tool) is not installed"
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"nvidia-smi -L failed: {exc}"
    if out.returncode != 0 or "GPU" not in out.stdout:
        return f"nvidia-smi -L lists no GPU: {(out.stderr or out.stdout).strip()[:300]}"
    return None


def gpu_names() -> str:
    """The GPUs `nvidia-smi -L` lists, on one line."""
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    return "; ".join(line.strip() for line in out.splitlines() if line.strip())


def needs_gpu_message(problem: str) -> str:
    """The failure text for a CUDA candidate that cannot run here."""
    return (
        f"This CUDA candidate was built, but running it needs a GPU and {problem}. "
        f"Run the task on a backend with NVIDIA GPUs (for example `[backend] name = \"slurm\"` with a GPU partition, "
        f"or the local backend on a GPU machine); the build itself succeeded."
    )
