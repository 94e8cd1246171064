"""`python -m bench [--quick] [--only NAME ...] [--output PATH]`: run the benchmarks, print the table, write results.json."""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.report import Row, machine, table, write_results

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"


@dataclass
class Sizes:
    """How much each benchmark does: the full run, or `--quick` (a smoke test of the benchmark itself)."""

    populations: list[int]
    candidates: int
    warmup: int
    pipeline_candidates: int
    pipeline_warmup: int
    evaluations: int
    rebuilds: int
    profile_dir: Path | None = None


FULL = Sizes(populations=[100, 1_000, 10_000, 100_000], candidates=500, warmup=20, pipeline_candidates=200,
             pipeline_warmup=12, evaluations=40, rebuilds=3)
QUICK = Sizes(populations=[100, 300], candidates=25, warmup=5, pipeline_candidates=24, pipeline_warmup=8, evaluations=5,
              rebuilds=1)


def _overhead(work: Path, sizes: Sizes) -> list[Row]:
    from bench import overhead

    return overhead.run(work, sizes.populations, sizes.candidates, sizes.warmup, sizes.profile_dir)


def _evaluation(work: Path, sizes: Sizes) -> list[Row]:
    from bench import evaluation_cost

    return evaluation_cost.run(work, sizes.evaluations)


def _pipeline(work: Path, sizes: Sizes) -> list[Row]:
    from bench import pipeline

    return pipeline.run(work, sizes.pipeline_candidates, sizes.pipeline_warmup, sizes.profile_dir)


def _compile(work: Path, sizes: Sizes) -> list[Row]:
    from bench import compile_reuse

    return compile_reuse.run(work, sizes.rebuilds)


BENCHMARKS: dict[str, tuple[str, Callable[[Path, Sizes], list[Row]]]] = {
    "overhead": ("engine overhead per candidate at each population, the LLM client's cost per call, peak engine memory", _overhead),
    "evaluation": ("a trivial sandboxed Python evaluation through the local backend, cold and warm", _evaluation),
    "pipeline": ("pipeline utilisation with a 200 ms LLM and a 200 ms evaluation", _pipeline),
    "compile": ("rebuild of a one-line change of the Rust example against a cold build", _compile),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="Tiny sizes: checks that every benchmark runs (numbers are not comparable).")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
                        help=f"Run only this benchmark (repeatable): {', '.join(BENCHMARKS)}.")
    parser.add_argument("--populations", type=lambda s: [int(p) for p in s.split(",")], default=None,
                        help="Population sizes for the overhead benchmark, comma-separated (default 100,1000,10000,100000).")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"Where to write the results (default {DEFAULT_OUTPUT.name} in bench/).")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="Profile each engine run with cProfile and write the statistics to DIR (timings grow).")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary task folders and databases, and say where they are.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = dataclasses.replace(QUICK if args.quick else FULL)
    if args.populations:
        sizes.populations = args.populations
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        sizes.profile_dir = args.profile.resolve()
    names = args.only or list(BENCHMARKS)
    before = machine()
    work = Path(tempfile.mkdtemp(prefix="genesis-bench-"))
    rows: list[Row] = []
    failed: list[str] = []
    started = time.perf_counter()
    try:
        for name in names:
            what, function = BENCHMARKS[name]
            print(f"bench: {name}: {what} ...", file=sys.stderr, flush=True)
            began = time.perf_counter()
            folder = work / name
            folder.mkdir()
            try:
                produced = function(folder, sizes)
            except Exception as exc:  # one broken benchmark must not hide the others' numbers
                traceback.print_exc()
                failed.append(name)
                produced = [Row(f"{name}.error", f"{name}: {what}", None, "", note=f"{type(exc).__name__}: {exc}"[:300])]
            rows.extend(produced)
            print(f"bench: {name}: done in {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
    finally:
        if args.keep:
            print(f"bench: work files kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - started
    print(table(rows))
    write_results(args.output, rows, mode="quick" if args.quick else "full", seconds=seconds, machine_before=before)
    speed = before["python_speed_us"]
    print(f"\nMachine: {before['cores']} cores ({before['cpu']}), load average {before['load_average'][0]:.1f} at the start, "
          f"Python speed {speed} us (CPU time of sum(range(1000)); lower is faster).")
    print(f"Written to {args.output} ({seconds:.0f} s).")
    if failed:
        print(f"bench: these benchmarks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
