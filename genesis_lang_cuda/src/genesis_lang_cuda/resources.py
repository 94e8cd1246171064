"""Each kernel's registers, shared memory and spills, from `ptxas -v`.

These decide occupancy: registers per thread and shared memory per block
limit how many warps a multiprocessor holds, and spills to local memory are
slow. nvcc prints them with `-Xptxas -v`; they go into the build log and the
metrics (`max_registers`, `max_shared_bytes`, `spill_bytes`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ENTRY = re.compile(r"ptxas info\s*: Compiling entry function '(?P<name>[^']+)' for '(?P<arch>[^']+)'")
_PROPERTIES = re.compile(r"ptxas info\s*: Function properties for (?P<name>\S+)")
_FRAME = re.compile(r"(?P<stack>\d+) bytes stack frame, (?P<stores>\d+) bytes spill stores, (?P<loads>\d+) bytes spill loads")
_USED = re.compile(r"ptxas info\s*: Used (?P<registers>\d+) registers(?P<rest>.*)")
_SMEM = re.compile(r"(?P<smem>\d+) bytes smem")


@dataclass
class Kernel:
    name: str
    arch: str
    registers: int = 0
    shared_bytes: int = 0
    spill_bytes: int = 0
    stack_bytes: int = 0

    def describe(self) -> str:
        return (
            f"kernel {self.name} ({self.arch}): {self.registers} registers/thread, {self.shared_bytes} bytes shared memory, "
            f"{self.spill_bytes} bytes spilled, {self.stack_bytes} bytes stack"
        )


def is_ptxas_line(line: str) -> bool:
    return line.startswith("ptxas info") or _FRAME.search(line) is not None


def parse_ptxas(output: str) -> list[Kernel]:
    """Kernels (entry functions) in the order ptxas compiled them."""
    kernels: list[Kernel] = []
    current: Kernel | None = None
    frames: dict[str, tuple[int, int]] = {}  # function -> (stack, spill) from 'Function properties'
    properties_of: str | None = None
    for line in output.splitlines():
        if m := _ENTRY.search(line):
            current = Kernel(m["name"], m["arch"])
            kernels.append(current)
        elif m := _PROPERTIES.search(line):
            properties_of = m["name"]
        elif (m := _FRAME.search(line)) and properties_of is not None:
            frames[properties_of] = (int(m["stack"]), int(m["stores"]) + int(m["loads"]))
            properties_of = None
        elif (m := _USED.search(line)) and current is not None:
            current.registers = int(m["registers"])
            if s := _SMEM.search(m["rest"]):
                current.shared_bytes = int(s["smem"])
    for kernel in kernels:
        kernel.stack_bytes, kernel.spill_bytes = frames.get(kernel.name, (0, 0))
    return kernels
