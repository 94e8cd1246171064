"""Rows of the benchmark table: a measure, its value, its target, and whether the target is met."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import genesis_core

OPERATORS = {"<=": lambda v, t: v <= t, "<": lambda v, t: v < t, ">=": lambda v, t: v >= t}


@dataclass
class Target:
    op: str  # "<=", "<" or ">="
    value: float

    def __str__(self) -> str:
        return f"{self.op} {_number(self.value)}"


@dataclass
class Row:
    """One line of the table. `value` is None only when the measure could not be taken (`note` says why)."""

    key: str
    measure: str
    value: float | None
    unit: str
    target: Target | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return OPERATORS[self.target.op](self.value, self.target.value)

    @property
    def status(self) -> str:
        if self.value is None:
            return f"not measured: {self.note}"
        if self.target is None:
            return "-"
        if self.met:
            return "met"
        gap = abs(self.value - self.target.value)
        ratio = self.value / self.target.value if self.target.value else float("inf")
        return f"MISSED by {_number(gap)} {self.unit} ({ratio:.2f}x the target)".replace("  ", " ")

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["target"] = {"op": self.target.op, "value": self.target.value} if self.target else None
        out["met"] = self.met
        out["status"] = self.status
        return out


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def table(rows: list[Row]) -> str:
    """The rows as a fixed-width text table (also valid Markdown)."""
    header = ("measure", "value", "target", "status")
    lines = [
        (r.measure, "-" if r.value is None else f"{_number(r.value)} {r.unit}".strip(), str(r.target) if r.target else "-", r.status)
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    fmt = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
    out = [fmt.format(*header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [fmt.format(*line) for line in lines]
    return "\n".join(out)


def calibration_us() -> float:
    """CPU microseconds of a fixed piece of pure Python (best of 20): how fast this machine runs Python right now."""
    best = float("inf")
    for _ in range(20):
        started = time.process_time()
        for _ in range(100):
            sum(range(1000))
        best = min(best, (time.process_time() - started) / 100 * 1e6)
    return round(best, 2)


def machine() -> dict[str, Any]:
    """What the numbers were measured on, and how busy it was."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "genesis_core": genesis_core.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python_speed_us": calibration_us(),  # sum(range(1000)) in CPU microseconds; lower is faster
    }


def write_results(path: Path, rows: list[Row], *, mode: str, seconds: float, machine_before: dict[str, Any]) -> None:
    data = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mode": mode,
        "seconds": round(seconds, 1),
        "machine": machine_before,
        "machine_after": {k: v for k, v in machine().items() if k in ("load_average", "python_speed_us")},
        "rows": [r.as_json() for r in rows],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


DOCS = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
DOCS_START = "<!-- latest bench results: start (python -m bench.report --write-docs) -->"
DOCS_END = "<!-- latest bench results: end -->"


def rows_from_json(data: dict[str, Any]) -> list[Row]:
    rows = []
    for r in data["rows"]:
        target = Target(r["target"]["op"], r["target"]["value"]) if r["target"] else None
        rows.append(Row(r["key"], r["measure"], r["value"], r["unit"], target, r["note"], r["details"]))
    return rows


def results_section(data: dict[str, Any]) -> str:
    """The "latest results" text of docs/performance.md for one results.json."""
    m, after = data["machine"], data.get("machine_after") or data["machine"]
    return (
        f"Measured {data['generated_at']} with `python -m bench{' --quick' if data['mode'] == 'quick' else ''}` "
        f"({data['seconds']:.0f} s) on {m['cores']} cores ({m['cpu']}, Python {m['python']}); load average "
        f"{m['load_average'][0]} at the start and {after['load_average'][0]} at the end; Python speed "
        f"{m['python_speed_us']} us (the CPU time of `sum(range(1000))`; lower is faster). "
        f"`bench/results.json` holds the run with each row's details.\n\n{table(rows_from_json(data))}\n"
    )


def write_docs(results: Path, docs: Path = DOCS) -> None:
    """Replace the results section of docs/performance.md with `results`."""
    text = docs.read_text()
    head, start, rest = text.partition(DOCS_START)
    _, end, tail = rest.partition(DOCS_END)
    if not start or not end:
        raise SystemExit(f"{docs} lacks the markers {DOCS_START!r} and {DOCS_END!r} around its results section.")
    section = results_section(json.loads(results.read_text()))
    docs.write_text(f"{head}{DOCS_START}\n{section}{DOCS_END}{tail}")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.report", description="Print a results.json as the table of docs/performance.md.")
    parser.add_argument("results", nargs="?", type=Path, default=Path(__file__).resolve().parent / "results.json")
    parser.add_argument("--write-docs", action="store_true", help="Replace the results section of docs/performance.md.")
    args = parser.parse_args()
    if args.write_docs:
        write_docs(args.results)
        print(f"Updated {DOCS}")
    else:
        print(results_section(json.loads(args.results.read_text())))


if __name__ == "__main__":
    main()
