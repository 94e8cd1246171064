"""`genesis init --language rust|cpp` writes a task that builds, runs and evolves offline."""

from __future__ import annotations

import json
import math
import shutil

import pytest

# f(1.5, 0.5) of the starter task: the point the initial program prints.
INITIAL_SCORE = 10 - (1.5 - 3) ** 2 - (0.5 + 1) ** 2 - 0.1 * math.cos(7 * 1.5)


@pytest.mark.parametrize(("language", "compiler", "extension"), [("rust", "rustc", "rs"), ("cpp", "g++", "cpp")])
def test_init_then_run(language, compiler, extension, genesis_cli, tmp_path):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not on PATH")
    task = tmp_path / "task"
    made = genesis_cli(["init", str(task), "--language", language])
    assert made.returncode == 0, made
    assert (task / f"main.{extension}").is_file()

    results = tmp_path / "results"
    ran = genesis_cli(["run", str(task), "--results", str(results), "-s", "run.max_evaluations=6"])
    assert ran.returncode == 0, ran
    exported = json.loads(genesis_cli(["export", str(results), "--format", "json"]).stdout)
    first = exported["programs"][0]
    assert first["patch_kind"] == "initial" and first["language"] == language
    assert first["score"] == pytest.approx(INITIAL_SCORE)
    assert (results / f"best.{extension}").is_file()
