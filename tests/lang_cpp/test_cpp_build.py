"""C++ builds through the real worker: flags per target, the vectorisation report, trimmed errors."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest
from genesis_core.job import FailureReason

from genesis_lang_cpp import CppLanguage

SAXPY = {
    "main.cpp": """
        #include <cstdio>
        #include <vector>

        // EVOLVE-BLOCK-START
        void saxpy(float* __restrict__ y, const float* __restrict__ x, float a, int n) {
            for (int i = 0; i < n; ++i) y[i] += a * x[i];
        }

        void prefix_sum(float* v, int n) {
            for (int i = 1; i < n; ++i) v[i] += v[i - 1];
        }
        // EVOLVE-BLOCK-END

        int main() {
            std::vector<float> x(1000, 1.0f), y(1000, 2.0f);
            saxpy(y.data(), x.data(), 3.0f, 1000);
            prefix_sum(y.data(), 1000);
            std::printf("%.0f\\n", y[999]);
        }
    """
}

def has_avx2() -> bool:
    try:
        return " avx2" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


# The x86-64-v3 programs run here, so the CPU must have AVX2.
x86_only = pytest.mark.skipif(platform.machine() != "x86_64" or not has_avx2(), reason="builds for x86-64-v3 and runs it: needs an x86-64 CPU with AVX2")


@pytest.mark.parametrize("compiler", ["g++", "clang++"])
def test_vectorisation_report_names_the_loops(run_cpp, compiler):
    result = run_cpp(SAXPY, settings={"compiler": compiler, "march": "native", "hot_functions": ["saxpy", "prefix_sum"]})
    assert result.ok, f"{result.failure}: {result.error}"
    assert result.feedback.strip() == "5000"
    log = result.artifacts["build_log"]
    assert "Vectorisation report:" in log
    assert "main.cpp:6: vectorised" in log  # the saxpy loop
    assert "main.cpp:10: NOT vectorised" in log  # the prefix sum carries a dependency
    assert result.metrics["vectorized_loops"] >= 1
    assert result.metrics["missed_loops"] >= 1
    assert result.metrics["simd_instructions.saxpy"] > 0
    assert result.metrics["simd_instructions.prefix_sum"] == 0


@x86_only
def test_target_cpu_changes_the_vector_width(run_cpp):
    portable = run_cpp(SAXPY, settings={"march": "x86-64", "hot_functions": ["saxpy"]})
    avx2 = run_cpp(SAXPY, settings={"march": "x86-64-v3", "hot_functions": ["saxpy"]})
    assert portable.ok and avx2.ok, (portable.error, avx2.error)
    assert portable.metrics["simd_instructions_256"] == 0
    assert avx2.metrics["simd_instructions_256"] > 0
    assert "on 256-bit" in avx2.artifacts["build_log"]


def test_flags_and_link_flags_are_used(run_cpp):
    files = {
        "main.cpp": """
            #include <cmath>
            #include <cstdio>
            int main() {
            #ifdef GENESIS_FLAG
                std::printf("%.1f\\n", std::sqrt(2.25));
            #endif
            }
        """
    }
    result = run_cpp(files, settings={"flags": ["-DGENESIS_FLAG"], "link_flags": ["-lm"], "opt_level": "2", "std": "c++20"})
    assert result.ok, result.error
    assert result.feedback.strip() == "1.5"


def test_compile_error_is_trimmed_and_relative(run_cpp):
    files = {"main.cpp": "\n".join(["int main() {"] + [f"    int v{i} = missing_{i};" for i in range(9)] + ["}"])}
    result = run_cpp(files, settings={"max_errors": 2, "flags": ["-Wall"]})
    assert result.failure == FailureReason.BUILD_ERROR
    log = result.artifacts["build_log"]
    assert "main.cpp:2:" in log and "'missing_0' was not declared" in log.replace("‘", "'").replace("’", "'")
    assert log.count(" error: ") == 2
    assert "/genesis-job" not in log and "/tmp/" not in log
    assert "compilation terminated" not in log


def test_link_error_is_a_build_error(run_cpp):
    files = {"main.cpp": "int helper();\nint main() { return helper(); }\n"}
    result = run_cpp(files)
    assert result.failure == FailureReason.BUILD_ERROR
    assert "undefined reference to `helper()'" in result.error


def test_missing_compiler_is_named():
    from genesis_lang_cpp.build import CompilerNotFound, compiler_family

    with pytest.raises(CompilerNotFound, match="not-a-compiler"):
        compiler_family("not-a-compiler")


def test_doctor_versions_show_the_configured_compiler():
    versions = CppLanguage({"compiler": "g++"}).toolchain_versions()
    assert versions["g++"] is not None  # the version line of the installed g++
    assert set(versions) >= {"g++", "clang++", "objdump"}
