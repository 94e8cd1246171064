"""Were the hot loops vectorised? Two independent answers.

1. The compiler's own optimisation report: g++ `-fopt-info-vec-optimized-missed`
   (written to a file), clang++ `-Rpass=loop-vectorize` remarks (on standard
   error). Each loop of the candidate's own files (not system headers) is
   vectorised or not, with the compiler's reason.
2. The object code: `objdump -d` of the candidate's object files, counting
   instructions that work on packed vectors (SSE/AVX/AVX-512 on x86-64, NEON
   and SVE on AArch64), in total, by vector width, and per function.

Both go into the build's metrics and log, and into `.genesis-build/vectorization.txt`
in the job folder, which an evaluator can add to its feedback (`read_report`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from genesis_lang_cpp.settings import BUILD_DIR

# The report of the last build, in the job folder, for evaluators that put it into their feedback.
REPORT_FILE = f"{BUILD_DIR}/vectorization.txt"


def read_report(workdir: Path) -> str:
    """The vectorisation report the build left in a job folder (`candidate.workdir`), or '' when there is none."""
    path = Path(workdir) / REPORT_FILE
    return path.read_text() if path.is_file() else ""

# -- the compiler's report ----------------------------------------------------


@dataclass
class Loop:
    """One loop of the candidate, as the compiler reported it."""

    location: str  # 'file:line'
    vectorized: bool
    detail: str  # vector width, or the reason it was not vectorised


_GCC = re.compile(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):\d+: (?P<kind>optimized|missed): (?P<text>.*)$")
_CLANG = re.compile(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):\d+: remark: (?P<text>.*?) \[-Rpass(?P<pass>-missed|-analysis)?=loop-vectorize\]$")


def _own(path: str) -> bool:
    """A file of the candidate: a relative path (system headers are absolute)."""
    return not path.startswith("/") and not path.startswith("<")


def gcc_loops(report: str) -> list[Loop]:
    """Loops from g++'s `-fopt-info-vec-optimized-missed` file."""
    loops: dict[str, Loop] = {}
    waiting_reason: Loop | None = None
    for line in report.splitlines():
        m = _GCC.match(line.strip())
        if not m or not _own(m["file"]):
            continue
        where = f"{m['file']}:{m['line']}"
        text = m["text"]
        if m["kind"] == "optimized" and text.startswith("loop vectorized"):
            width = text.removeprefix("loop vectorized").strip()
            known = loops.get(where)
            if known is None or not known.vectorized:
                loops[where] = Loop(where, True, width)
            waiting_reason = None
        elif text.startswith("couldn't vectorize loop"):
            if where not in loops:
                loops[where] = Loop(where, False, "")
                waiting_reason = loops[where]
        elif text.startswith("not vectorized:") and waiting_reason is not None:
            waiting_reason.detail = text.removeprefix("not vectorized:").strip()
            waiting_reason = None
    return list(loops.values())


def clang_loops(stderr: str) -> list[Loop]:
    """Loops from clang++'s `-Rpass*=loop-vectorize` remarks."""
    loops: dict[str, Loop] = {}
    reasons: dict[str, str] = {}
    for line in stderr.splitlines():
        m = _CLANG.match(line.strip())
        if not m or not _own(m["file"]):
            continue
        where = f"{m['file']}:{m['line']}"
        text = m["text"]
        if m["pass"] is None and text.startswith("vectorized loop"):
            loops[where] = Loop(where, True, text.removeprefix("vectorized loop").strip())
        elif m["pass"] == "-analysis" and text.startswith("loop not vectorized:"):
            reasons.setdefault(where, text.removeprefix("loop not vectorized:").strip())
        elif m["pass"] == "-missed" and where not in loops:
            loops[where] = Loop(where, False, "")
    for loop in loops.values():
        if not loop.vectorized:
            loop.detail = reasons.get(loop.location, "")
    # clang puts the analysis remark on the offending statement, not the loop line: pair leftovers in order.
    leftovers = iter(r for w, r in reasons.items() if w not in loops)
    for loop in loops.values():
        if not loop.vectorized and not loop.detail:
            loop.detail = next(leftovers, "")
    return list(loops.values())


# -- the object code ------------------------------------------------------------


@dataclass
class SimdCount:
    instructions: int = 0
    simd: int = 0
    simd_256: int = 0
    simd_512: int = 0
    per_function: Counter = field(default_factory=Counter)
    functions: set[str] = field(default_factory=set)


_FUNCTION = re.compile(r"^[0-9a-f]+ <(?P<name>.+)>:$")
_INSN = re.compile(r"^\s*[0-9a-f]+:\s+(?P<insn>.+)$")
_XMM = re.compile(r"%xmm\d+")
_YMM = re.compile(r"%ymm\d+")
_ZMM = re.compile(r"%zmm\d+")
_NEON = re.compile(r"\bv\d+\.\d*[bhsdq]\b|\bz\d+\.[bhsdq]\b")
# Instructions on xmm registers that touch one element only (AT&T mnemonics, `v` prefix removed).
_SCALAR = re.compile(r"^(\w*s[sd]|movd|movq|u?comis[sd]|cvt\w*2s[sd][lq]?|cvtt?s[sd]2\w*|extractps|insertps|movmskp[sd])$")
# Packed-integer mnemonics (p...) that move one element in or out.
_ELEMENT_MOVES = re.compile(r"^(pextr\w|pinsr\w|pmovmskb)$")


def _packed_on_xmm(mnemonic: str) -> bool:
    base = mnemonic.removeprefix("v")
    if base.startswith("p"):  # packed integer ops (paddd, pminsd, pshufb ...), but not the element moves
        return not _ELEMENT_MOVES.match(base)
    if base.startswith("broadcast") or base.endswith(("ps", "pd")):
        return True
    return not _SCALAR.match(base)


def _is_zeroing(mnemonic: str, operands: list[str]) -> bool:
    """`pxor %xmm0,%xmm0` and friends only clear a register."""
    return mnemonic.lstrip("v") in ("pxor", "xorps", "xorpd", "pcmpeqd") and len(set(operands)) == 1


def function_name(symbol: str) -> str:
    """The plain name of a demangled symbol: `void ns::saxpy<8>(float*, int) [clone .cold]` -> `saxpy`."""
    name = symbol.split(" [clone", 1)[0]
    depth, cut = 0, len(name)
    for index, char in enumerate(name):  # the argument list starts at the first '(' outside template brackets
        if char == "<":
            depth += 1
        elif char == ">":
            depth -= 1
        elif char == "(" and depth == 0:
            cut = index
            break
    name = name[:cut]
    while (shorter := re.sub(r"<[^<>]*>", "", name)) != name:  # template arguments, innermost first
        name = shorter
    return name.split()[-1].rsplit("::", 1)[-1] if name.split() else name


def count_simd(disassembly: str) -> SimdCount:
    """Packed-SIMD instructions in `objdump -d -C --no-show-raw-insn` output (AT&T syntax)."""
    count = SimdCount()
    function = ""
    for line in disassembly.splitlines():
        if m := _FUNCTION.match(line):
            function = function_name(m["name"])
            count.functions.add(function)
            continue
        m = _INSN.match(line)
        if not m:
            continue
        insn = m["insn"].split("#", 1)[0].strip()
        if not insn or insn.startswith("(bad)"):
            continue
        count.instructions += 1
        mnemonic, _, rest = insn.partition(" ")
        operands = [o.strip() for o in rest.split(",")] if rest.strip() else []
        width = 0
        if _ZMM.search(rest):
            width = 512
        elif _YMM.search(rest):
            width = 256
        elif _XMM.search(rest):
            width = 128 if _packed_on_xmm(mnemonic) else 0
        elif _NEON.search(rest):
            width = 128
        if width and not _is_zeroing(mnemonic, operands):
            count.simd += 1
            count.simd_256 += width == 256
            count.simd_512 += width == 512
            count.per_function[function] += 1
    return count
