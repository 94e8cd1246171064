"""Cargo projects through the real worker: workspaces, modules, crates from an offline registry, shared target folders."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest
from genesis_core.errors import ConfigError
from genesis_core.job import FailureReason

from genesis_lang_rust import RustLanguage

WORKSPACE = {
    "Cargo.toml": """
        [workspace]
        members = ["app", "geom"]
        resolver = "2"
    """,
    "geom/Cargo.toml": """
        [package]
        name = "geom"
        version = "0.1.0"
        edition = "2021"
    """,
    "geom/src/lib.rs": """
        mod area;
        pub use area::area;
    """,
    "geom/src/area.rs": """
        pub fn area(w: u64, h: u64) -> u64 {
            w * h
        }
    """,
    "app/Cargo.toml": """
        [package]
        name = "app"
        version = "0.1.0"
        edition = "2021"

        [dependencies]
        geom = { path = "../geom" }
        rand = "0.8"
    """,
    "app/src/main.rs": """
        use rand::{Rng, SeedableRng};

        // EVOLVE-BLOCK-START
        fn main() {
            let mut rng = rand::rngs::StdRng::seed_from_u64(7);
            let side: u64 = rng.gen_range(3..4);
            println!("area {}", geom::area(side, 5));
        }
        // EVOLVE-BLOCK-END
    """,
}


def with_area(expression: str) -> dict[str, str]:
    """The workspace with another body for geom::area (a one-line change)."""
    files = dict(WORKSPACE)
    files["geom/src/area.rs"] = f"pub fn area(w: u64, h: u64) -> u64 {{\n    {expression}\n}}\n"
    return files


@pytest.mark.slow
def test_workspace_with_registry_crates_builds_offline_and_reuses_the_shared_target(run_rust, debian_registry, shared_build_dir):
    settings = {"registry_dir": str(debian_registry)}
    first = run_rust(WORKSPACE, "app/src/main.rs", settings=settings, shared=shared_build_dir)
    assert first.ok, f"{first.failure}: {first.error}"
    assert first.feedback.strip() == "area 15"

    second = run_rust(with_area("w * h + 1"), "app/src/main.rs", settings=settings, shared=shared_build_dir)
    assert second.ok, f"{second.failure}: {second.error}"
    assert second.feedback.strip() == "area 16"
    # The one-line change recompiles the candidate's own crates; rand and its dependencies come from the slot.
    assert second.metrics["crates_fresh"] >= 4, second.metrics
    assert second.metrics["crates_compiled"] <= 2, second.metrics


@pytest.mark.slow
def test_a_candidate_never_gets_the_binary_of_an_older_build(rust_sandbox, debian_registry):
    """Cargo judges freshness by file times: two candidates written before either builds must still differ."""
    sandbox, make_context = rust_sandbox
    language = RustLanguage({"registry_dir": str(debian_registry)})
    contexts = {name: make_context(name, with_area(expression)) for name, expression in (("a", "w * h + 100"), ("b", "w * h + 200"))}
    outputs = {}
    for name, ctx in contexts.items():  # b's files are older than a's build
        build = language.build(ctx)
        assert build.ok, build.log
        outputs[name] = ctx.run(language.run_command(build.artifact)).stdout.strip()
    assert outputs == {"a": "area 115", "b": "area 215"}


def test_compile_error_reaches_the_result_trimmed(run_rust):
    files = {
        "Cargo.toml": '[package]\nname = "broken"\nversion = "0.1.0"\nedition = "2021"\n',
        "src/main.rs": """
            mod helper;
            fn main() {
                let total: u32 = helper::half(7);
                println!("{}", totl);
            }
        """,
        "src/helper.rs": "pub fn half(x: u64) -> u64 { x / 2 }\n",
    }
    result = run_rust(files, "src/main.rs")
    assert not result.ok
    assert result.failure == FailureReason.BUILD_ERROR
    log = result.artifacts["build_log"]
    assert "error[E0425]: cannot find value `totl` in this scope" in log
    assert "src/main.rs:4" in log  # relative to the candidate, as the model knows the files
    assert "error[E0308]: mismatched types" in log
    assert "aborting due to" not in log and "could not compile" not in log
    assert "/genesis-job" not in log and "/tmp/" not in log
    assert "totl" in result.error
    assert result.metrics["build_errors"] == 2


def test_warnings_come_back_with_a_successful_build(run_rust):
    files = {
        "main.rs": """
            // EVOLVE-BLOCK-START
            fn main() {
                let unused = 3;
                println!("ok");
            }
            // EVOLVE-BLOCK-END
        """
    }
    result = run_rust(files, "main.rs")
    assert result.ok, result.error
    assert "unused variable: `unused`" in result.artifacts["build_log"]
    assert result.metrics["build_warnings"] == 1


def test_many_errors_are_cut_to_the_first_few(run_rust):
    body = "\n".join(f"    let v{i}: u8 = \"s{i}\";" for i in range(12))
    result = run_rust({"main.rs": f"fn main() {{\n{body}\n}}\n"}, "main.rs", settings={"max_errors": 3})
    assert result.failure == FailureReason.BUILD_ERROR
    log = result.artifacts["build_log"]
    assert log.count("error[E0308]") == 3
    assert "9 more error(s)" in log


def test_a_project_with_two_binaries_asks_which_one(run_rust):
    files = {
        "Cargo.toml": """
            [package]
            name = "two"
            version = "0.1.0"
            edition = "2021"

            [[bin]]
            name = "one"
            path = "src/one.rs"

            [[bin]]
            name = "other"
            path = "src/other.rs"
        """,
        "src/one.rs": "fn main() { println!(\"one\"); }\n",
        "src/other.rs": "fn main() { println!(\"other\"); }\n",
    }
    unsure = run_rust(files, "src/one.rs")
    assert unsure.failure == FailureReason.BUILD_ERROR
    assert "several binaries" in unsure.error and "[language.rust] bin" in unsure.error
    chosen = run_rust(files, "src/one.rs", settings={"bin": "other"})
    assert chosen.ok, chosen.error
    assert chosen.feedback.strip() == "other"


@pytest.mark.skipif(platform.machine() != "x86_64" or " avx2" not in Path("/proc/cpuinfo").read_text(), reason="runs an x86-64-v3 build: needs an x86-64 CPU with AVX2")
def test_target_cpu_and_flags_reach_rustc(run_rust):
    files = {
        "main.rs": """
            fn main() {
                println!("{}", if cfg!(target_feature = "avx2") { "avx2" } else { "no avx2" });
            }
        """
    }
    plain = run_rust(files, "main.rs", settings={"target_cpu": "x86-64"})
    tuned = run_rust(files, "main.rs", settings={"target_cpu": "x86-64-v3"})
    assert plain.ok and tuned.ok, (plain.error, tuned.error)
    assert (plain.feedback.strip(), tuned.feedback.strip()) == ("no avx2", "avx2")


def test_bad_settings_are_refused_with_the_key():
    with pytest.raises(Exception, match="registry"):
        RustLanguage({"registry": "/x"})
    with pytest.raises(Exception, match="edition"):
        RustLanguage({"edition": "2019"})


def test_relative_registry_dir_is_a_config_error(rust_sandbox):
    _, make_context = rust_sandbox
    ctx = make_context("vendor", {"Cargo.toml": '[package]\nname = "x"\nversion = "0.1.0"\n', "app/src/main.rs": "fn main() {}\n"})
    with pytest.raises(ConfigError, match="absolute path"):
        RustLanguage({"registry_dir": "vendor"}).build(ctx)


def test_check_syntax_reports_a_broken_cargo_manifest():
    language = RustLanguage()
    problem = language.check_syntax({"Cargo.toml": "[package\nname = 1", "src/main.rs": "fn main() {}"}, "src/main.rs")
    assert problem is not None and "Cargo.toml is not valid TOML" in problem
    assert language.check_syntax({"main.rs": "fn main() {}"}, "main.rs") is None


def test_sandbox_paths_name_the_toolchain():
    paths = RustLanguage().sandbox_paths()
    from genesis_lang_rust.toolchain import resolve

    rustc, _ = resolve("rustc", "cargo")
    assert any(Path(rustc).resolve().is_relative_to(p) for p in paths), paths
