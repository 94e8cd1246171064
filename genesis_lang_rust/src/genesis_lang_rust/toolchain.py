"""Finding the Rust toolchain's real executables.

`rustc` and `cargo` on PATH are often rustup proxies, which need HOME and
RUSTUP_HOME to pick a toolchain; the sandbox gives the compiler neither. So
the host asks `rustc --print sysroot` once and builds call the toolchain's
own binaries in `<sysroot>/bin` by absolute path.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path

from genesis_core.errors import GenesisError


class ToolchainError(GenesisError):
    """rustc or cargo is missing or broken on the machine that builds."""


@cache
def resolve(rustc: str, cargo: str) -> tuple[str, str | None]:
    """Absolute paths of (rustc, cargo); cargo is None when it is not installed."""
    rustc_path = shutil.which(rustc)
    if rustc_path is None:
        raise ToolchainError(
            f"The Rust compiler '{rustc}' is not on PATH. Install Rust (https://rustup.rs, or "
            f"`apt-get install rustc cargo`), add its bin folder (~/.cargo/bin for rustup) to PATH, "
            f"or set [language.rust] rustc to its full path."
        )
    try:
        sysroot = subprocess.run([rustc_path, "--print", "sysroot"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolchainError(f"`{rustc_path} --print sysroot` failed ({exc}); check the Rust installation (`rustc --version`).") from None
    if sysroot.returncode != 0:
        raise ToolchainError(
            f"`{rustc_path} --print sysroot` exited with {sysroot.returncode}: {sysroot.stderr.strip()[:500]}. "
            f"With rustup, install a default toolchain (`rustup default stable`)."
        )
    bin_dir = Path(sysroot.stdout.strip()) / "bin"
    real_rustc = bin_dir / "rustc"
    rustc_out = str(real_rustc) if real_rustc.is_file() else rustc_path
    real_cargo = bin_dir / "cargo"
    if real_cargo.is_file():
        return rustc_out, str(real_cargo)
    return rustc_out, shutil.which(cargo)
