"""The pieces of the vectorisation report and of the trimmed log, on fixed compiler output."""

from genesis_lang_cpp.diagnostics import parse
from genesis_lang_cpp.vectorization import clang_loops, count_simd, function_name, gcc_loops

OBJDUMP = """
0000000000000000 <saxpy(float*, float const*, float, int)>:
   0:	vbroadcastss %xmm0,%ymm2
  30:	vmovups (%rsi,%rax,1),%ymm1
  35:	vfmadd213ps (%rcx,%rax,1),%ymm2,%ymm1
  9d:	vmovss (%rsi,%r9,4),%xmm1
  a7:	vfmadd213ss (%r8),%xmm0,%xmm1
  b0:	vxorps %xmm0,%xmm0,%xmm0
  b4:	ret

0000000000000100 <ns::Grid<float>::sum(int) const [clone .cold]>:
 100:	pxor   %xmm0,%xmm0
 104:	cvtsi2sdl %eax,%xmm0
 108:	addsd  %xmm1,%xmm0
 10c:	paddd  %xmm1,%xmm2
 110:	vpminsd %xmm1,%xmm2,%xmm3
 114:	vaddps %zmm1,%zmm2,%zmm3
"""


def test_packed_instructions_are_counted_by_width_and_function():
    count = count_simd(OBJDUMP)
    assert count.instructions == 13
    # packed: vbroadcastss, vmovups, vfmadd213ps (256-bit), paddd, vpminsd (128-bit), vaddps (512-bit)
    assert (count.simd, count.simd_256, count.simd_512) == (6, 3, 1)
    assert count.per_function == {"saxpy": 3, "sum": 3}
    assert count.functions == {"saxpy", "sum"}


def test_function_names_lose_namespaces_templates_arguments_and_clones():
    assert function_name("ns::Grid<float>::sum(int) const [clone .cold]") == "sum"
    assert function_name("void kernel<8>(float*, std::vector<int, std::allocator<int> >&)") == "kernel"
    assert function_name("main") == "main"


def test_gcc_report_pairs_each_missed_loop_with_its_reason():
    report = """main.cpp:1:44: missed: couldn't vectorize loop
main.cpp:1:55: missed: not vectorized: no vectype for stmt: _4 = *_3;
/usr/include/c++/12/bits/stl_algobase.h:921:22: optimized: loop vectorized using 32 byte vectors
main.cpp:2:63: optimized: loop vectorized using 32 byte vectors
main.cpp:2:63: optimized: loop vectorized using 16 byte vectors
main.cpp:3:73: missed: couldn't vectorize loop
main.cpp:3:73: missed: not vectorized: control flow in loop.
"""
    loops = {loop.location: (loop.vectorized, loop.detail) for loop in gcc_loops(report)}
    assert loops == {
        "main.cpp:1": (False, "no vectype for stmt: _4 = *_3;"),
        "main.cpp:2": (True, "using 32 byte vectors"),
        "main.cpp:3": (False, "control flow in loop."),
    }


def test_clang_remarks_give_vectorised_and_missed_loops():
    stderr = """k.cpp:6:7: remark: loop not vectorized: cannot prove it is safe to reorder floating-point operations [-Rpass-analysis=loop-vectorize]
k.cpp:5:3: remark: loop not vectorized [-Rpass-missed=loop-vectorize]
k.cpp:12:5: remark: vectorized loop (vectorization width: 8, interleaved count: 1) [-Rpass=loop-vectorize]
"""
    loops = {loop.location: (loop.vectorized, loop.detail) for loop in clang_loops(stderr)}
    assert loops == {
        "k.cpp:5": (False, "cannot prove it is safe to reorder floating-point operations"),
        "k.cpp:12": (True, "(vectorization width: 8, interleaved count: 1)"),
    }


def test_diagnostics_keep_context_and_drop_summaries_and_remarks():
    output = """main.cpp: In function 'int main()':
main.cpp:3:5: error: 'y' was not declared in this scope
    3 |     y = 2;
      |     ^
main.cpp:4:9: warning: unused variable 'z' [-Wunused-variable]
main.cpp:6:3: remark: loop not vectorized [-Rpass-missed=loop-vectorize]
  for (;;) {}
  ^
kernel.cu(12): error: identifier "x" is undefined
kernel.cu(5): warning #177-D: variable "u" was declared but never referenced
Remark: The warnings can be suppressed with "-diag-suppress <warning-number>"
1 error detected in the compilation of "kernel.cu".
compilation terminated due to -fmax-errors=2.
"""
    diags = parse(output)
    assert diags.errors == [
        "main.cpp: In function 'int main()':\nmain.cpp:3:5: error: 'y' was not declared in this scope\n    3 |     y = 2;\n      |     ^",
        'kernel.cu(12): error: identifier "x" is undefined',
    ]
    assert diags.warnings == ["main.cpp:4:9: warning: unused variable 'z' [-Wunused-variable]", 'kernel.cu(5): warning #177-D: variable "u" was declared but never referenced']
    text = diags.render("/jobs/j1", max_errors=1, max_warnings=0)
    assert text.endswith("... and 1 more error(s), 2 more warning(s) not shown.")
