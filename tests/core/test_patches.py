"""Applying LLM answers: SEARCH/REPLACE diffs, rewrites, crossover, and refusals the LLM can act on."""

import pytest
from genesis_core.blocks import find_blocks
from genesis_core.errors import GenesisError
from genesis_core.patches import (
    PatchError,
    apply_diff,
    apply_response,
    apply_rewrite,
    code_hash,
    normalize,
)

PROGRAM = """import math


def helper():
    return 1


def solve(xs):
    # EVOLVE-BLOCK-START
    total = 0
    for x in xs:
        total += x
    return total
    # EVOLVE-BLOCK-END
"""

TWO_BLOCKS = """// header
// EVOLVE-BLOCK-START
int a() { return 1; }
// EVOLVE-BLOCK-END
int keep() { return 0; }
// EVOLVE-BLOCK-START
int b() { return 2; }
// EVOLVE-BLOCK-END
"""


def diff(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def outside(code: str, comment: str = "#") -> list[str]:
    lines = code.split("\n")
    inside = set()
    for block in find_blocks(code, comment):
        inside.update(range(block.start + 1, block.end))
    return [line for i, line in enumerate(lines) if i not in inside]


# -- diffs -----------------------------------------------------------------


def test_exact_diff_applies_inside_the_block():
    answer = "I will use sum:\n" + diff("    total = 0\n    for x in xs:\n        total += x", "    total = sum(xs)")
    result = apply_diff(PROGRAM, answer, "#")
    assert "    total = sum(xs)\n    return total\n    # EVOLVE-BLOCK-END" in result
    assert "for x in xs" not in result
    assert outside(result) == outside(PROGRAM)


def test_diff_tolerates_trailing_whitespace_and_missing_indentation():
    answer = diff("total = 0   \nfor x in xs:\n    total += x", "total = math.fsum(xs)\nif total < 0:\n    total = 0")
    result = apply_diff(PROGRAM, answer, "#")
    # The replacement is re-indented to where the SEARCH lines were found.
    assert "    total = math.fsum(xs)\n    if total < 0:\n        total = 0\n    return total" in result


def test_diff_tolerates_extra_indentation():
    answer = diff("        return total", "        return total * 2")
    assert "    return total * 2\n    # EVOLVE-BLOCK-END" in apply_diff(PROGRAM, answer, "#")


def test_diff_inside_code_fence_and_several_blocks_apply_in_order():
    answer = "```\n" + diff("    total = 0", "    total = 10") + diff("    return total", "    return -total") + "```\n"
    result = apply_diff(PROGRAM, answer, "#")
    assert "    total = 10\n" in result and "    return -total\n" in result


def test_not_found_names_block_closest_lines_and_first_difference():
    answer = diff("    total = 0", "    total = 1") + diff("    total = 1\n    for y in ys:", "    pass")
    # block 2 matches the program as block 1 left it? no: 'for y in ys' exists nowhere.
    with pytest.raises(PatchError) as err:
        apply_diff(PROGRAM, answer, "#")
    message = str(err.value)
    assert "SEARCH/REPLACE block 2 of 2 does not match" in message
    assert "closest lines are lines 10-11" in message
    assert "SEARCH line 2:\n    for y in ys:" in message
    assert "program's line 11 is:\n    for x in xs:" in message
    assert "No change was applied" in message


def test_not_found_explains_when_an_earlier_block_changed_the_lines():
    answer = diff("    total = 0", "    total = 5") + diff("    total = 0\n    for x in xs:", "    total = 7\n    for x in xs:")
    with pytest.raises(PatchError, match="an earlier SEARCH/REPLACE block already changed"):
        apply_diff(PROGRAM, answer, "#")


def test_nothing_resembling_the_search():
    with pytest.raises(PatchError, match="No lines of the program resemble it"):
        apply_diff(PROGRAM, diff("zzzz qqqq wwww", "x"), "#")


def test_edit_outside_blocks_is_refused():
    with pytest.raises(PatchError) as err:
        apply_diff(PROGRAM, diff("def helper():\n    return 1", "def helper():\n    return 2"), "#")
    assert "changes line 5 of the program, outside the EVOLVE-BLOCK regions" in str(err.value)
    assert "lines 10-13" in str(err.value)


def test_removing_a_marker_is_refused():
    with pytest.raises(PatchError, match=r"removes the marker line 14 \('# EVOLVE-BLOCK-END'\)"):
        apply_diff(PROGRAM, diff("    return total\n    # EVOLVE-BLOCK-END", "    return total"), "#")


def test_adding_a_marker_is_refused():
    with pytest.raises(PatchError, match="adds the marker line '# EVOLVE-BLOCK-START'"):
        apply_diff(PROGRAM, diff("    total = 0", "    # EVOLVE-BLOCK-START\n    total = 0"), "#")


def test_marker_as_unchanged_context_is_allowed():
    answer = diff("    # EVOLVE-BLOCK-START\n    total = 0", "    # EVOLVE-BLOCK-START\n    import operator\n    total = 0")
    result = apply_diff(PROGRAM, answer, "#")
    assert "# EVOLVE-BLOCK-START\n    import operator\n    total = 0" in result
    assert result.count("EVOLVE-BLOCK-START") == 1


def test_inserting_after_the_end_marker_is_refused():
    answer = diff("    # EVOLVE-BLOCK-END", "    # EVOLVE-BLOCK-END\nprint('escaped')")
    with pytest.raises(PatchError, match="outside the EVOLVE-BLOCK regions"):
        apply_diff(PROGRAM, answer, "#")


def test_ambiguous_search_asks_for_more_context():
    code = "# EVOLVE-BLOCK-START\nx += 1\ny = 2\nx += 1\n# EVOLVE-BLOCK-END\n"
    with pytest.raises(PatchError, match=r"matches 2 places \(line 2, line 4, exactly\)"):
        apply_diff(code, diff("x += 1", "x += 2"), "#")


def test_same_lines_outside_and_inside_pick_the_inside_one():
    code = "x = 1\n# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\n"
    assert apply_diff(code, diff("x = 1", "x = 3"), "#") == "x = 1\n# EVOLVE-BLOCK-START\nx = 3\n# EVOLVE-BLOCK-END\n"


def test_multiple_blocks_each_edited():
    answer = diff("int a() { return 1; }", "int a() { return 10; }") + diff("int b() { return 2; }", "int b() { return 20; }")
    result = apply_diff(TWO_BLOCKS, answer, "//")
    assert "return 10" in result and "return 20" in result
    assert "int keep() { return 0; }" in result
    assert len(find_blocks(result, "//")) == 2


def test_edit_spanning_two_blocks_is_refused():
    answer = diff("int a() { return 1; }\n// EVOLVE-BLOCK-END\nint keep() { return 0; }", "int a() { return 1; }")
    with pytest.raises(PatchError, match="marker line 4"):
        apply_diff(TWO_BLOCKS, answer, "//")


def test_malformed_diffs_have_precise_errors():
    with pytest.raises(PatchError, match="no complete SEARCH/REPLACE block"):
        apply_diff(PROGRAM, "just prose", "#")
    with pytest.raises(PatchError, match="block 1 is not closed"):
        apply_diff(PROGRAM, "<<<<<<< SEARCH\n    total = 0\n=======\n    total = 1\n", "#")
    with pytest.raises(PatchError, match="no '=======' line"):
        apply_diff(PROGRAM, "<<<<<<< SEARCH\n    total = 0\n>>>>>>> REPLACE\n", "#")
    with pytest.raises(PatchError, match="SEARCH part of block 1 is empty"):
        apply_diff(PROGRAM, diff("", "x = 1"), "#")


def test_patch_error_is_a_genesis_error():
    assert issubclass(PatchError, GenesisError)


def test_crlf_program_stays_crlf():
    code = "a\r\n# EVOLVE-BLOCK-START\r\nx = 1\r\n# EVOLVE-BLOCK-END\r\n"
    assert apply_diff(code, diff("x = 1", "x = 2"), "#") == "a\r\n# EVOLVE-BLOCK-START\r\nx = 2\r\n# EVOLVE-BLOCK-END\r\n"


# -- rewrites ---------------------------------------------------------------


def test_rewrite_of_whole_program_keeps_outside_text_exactly():
    answer = """Here is a better version:
```python
import math

def helper():
    return 1

def solve(xs):
    # EVOLVE-BLOCK-START
    return math.fsum(xs)
    # EVOLVE-BLOCK-END
```
"""
    result = apply_rewrite(PROGRAM, answer, "#")
    # Blank lines outside differ in the answer; the original layout is kept.
    assert result == PROGRAM.replace("    total = 0\n    for x in xs:\n        total += x\n    return total\n", "    return math.fsum(xs)\n")


def test_rewrite_changing_outside_code_is_refused_with_the_line():
    answer = "```python\nimport math\n\ndef helper():\n    return 42\n\ndef solve(xs):\n    # EVOLVE-BLOCK-START\n    return 0\n    # EVOLVE-BLOCK-END\n```"
    with pytest.raises(PatchError) as err:
        apply_rewrite(PROGRAM, answer, "#")
    assert "before the first region" in str(err.value)
    assert "the current program has\n    return 1\nwhere yours has\n    return 42" in str(err.value)


def test_rewrite_dropping_a_marker_is_refused():
    answer = "```python\nimport math\ndef helper():\n    return 1\ndef solve(xs):\n    # EVOLVE-BLOCK-START\n    return 0\n```"
    with pytest.raises(PatchError, match="never closed"):
        apply_rewrite(PROGRAM, answer, "#")


def test_rewrite_with_only_block_contents_is_indented_into_place():
    answer = "```python\nresult = 0\nfor x in sorted(xs):\n    result += x\nreturn result\n```"
    result = apply_rewrite(PROGRAM, answer, "#")
    assert "    # EVOLVE-BLOCK-START\n    result = 0\n    for x in sorted(xs):\n        result += x\n    return result\n    # EVOLVE-BLOCK-END\n" in result
    assert outside(result) == outside(PROGRAM)


def test_rewrite_of_two_blocks_with_one_fence_each():
    answer = "First:\n```c\nint a() { return 7; }\n```\nSecond:\n```c\nint b() { return 8; }\n```\n"
    result = apply_rewrite(TWO_BLOCKS, answer, "//")
    assert find_blocks(result, "//")[0].text == "int a() { return 7; }"
    assert find_blocks(result, "//")[1].text == "int b() { return 8; }"


def test_rewrite_ambiguous_for_two_blocks():
    with pytest.raises(PatchError, match="2 EVOLVE-BLOCK regions, and your answer holds 1 code block"):
        apply_rewrite(TWO_BLOCKS, "```c\nint a() { return 7; }\n```", "//")


def test_rewrite_block_count_mismatch():
    answer = "```c\n// header\n// EVOLVE-BLOCK-START\nint a() { return 1; }\n// EVOLVE-BLOCK-END\nint keep() { return 0; }\n```"
    with pytest.raises(PatchError, match="Your program has 1 EVOLVE-BLOCK region"):
        apply_rewrite(TWO_BLOCKS, answer, "//")


def test_rewrite_without_code_or_unclosed_fence():
    with pytest.raises(PatchError, match="no fenced code block"):
        apply_rewrite(PROGRAM, "I think it is fine as is.", "#")
    with pytest.raises(PatchError, match="never closed"):
        apply_rewrite(PROGRAM, "```python\nreturn 1\n", "#")


def test_crossover_answer_is_a_rewrite_of_the_first_parent():
    parent_a = "def f():\n    # EVOLVE-BLOCK-START\n    a = 1\n    # EVOLVE-BLOCK-END\n    return a\n"
    parent_b = "def f():\n    # EVOLVE-BLOCK-START\n    a = 2 + 2\n    # EVOLVE-BLOCK-END\n    return a\n"
    answer = "Combining both:\n```python\ndef f():\n    # EVOLVE-BLOCK-START\n    a = 1 + 2 + 2\n    # EVOLVE-BLOCK-END\n    return a\n```"
    result = apply_response(parent_a, answer, "#", "crossover")
    assert result == "def f():\n    # EVOLVE-BLOCK-START\n    a = 1 + 2 + 2\n    # EVOLVE-BLOCK-END\n    return a\n"
    assert apply_response(parent_b, answer, "#", "crossover") == result


# -- dispatch and normalisation -----------------------------------------------


def test_apply_response_dispatches_by_content():
    as_diff = apply_response(PROGRAM, diff("    return total", "    return 0"), "#", "rewrite")
    as_rewrite = apply_response(PROGRAM, "```\nreturn 0\n```", "#", "diff")
    assert "    return 0\n    # EVOLVE-BLOCK-END" in as_diff
    assert find_blocks(as_rewrite, "#")[0].text == "    return 0"
    with pytest.raises(PatchError, match="no SEARCH/REPLACE block and no code block"):
        apply_response(PROGRAM, "No idea.", "#", "diff")


def test_normalize_and_hash_ignore_layout_only():
    a = "x = 1\r\n\r\ny = 2   \n"
    b = "x = 1\ny = 2"
    assert normalize(a) == "x = 1\ny = 2"
    assert code_hash(a) == code_hash(b)
    assert code_hash(a) != code_hash("x = 1\ny = 3")
    assert code_hash("  x = 1") != code_hash("x = 1")  # indentation matters (Python)
    assert len(code_hash(a)) == 64


def test_initial_program_written_by_the_llm():
    answer = "Here it is:\n```python\nimport sys\n# EVOLVE-BLOCK-START\ndef f():\n    return 1\n# EVOLVE-BLOCK-END\n```\n"
    assert apply_response("", answer, "#", "initial") == "import sys\n# EVOLVE-BLOCK-START\ndef f():\n    return 1\n# EVOLVE-BLOCK-END\n"
    with pytest.raises(PatchError, match="no fenced code block with EVOLVE-BLOCK markers"):
        apply_response("", "```python\nprint(1)\n```", "#", "initial")
    with pytest.raises(PatchError, match="is never closed"):
        apply_response("", "```python\n# EVOLVE-BLOCK-START\nprint(1)\n```", "#", "initial")
