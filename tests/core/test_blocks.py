"""EVOLVE-BLOCK regions: finding them, and clear errors for markers that do not pair."""

import pytest
from genesis_core.blocks import (
    MARKER_END,
    MARKER_START,
    Block,
    block_texts,
    find_blocks,
    marker_line,
)
from genesis_core.errors import GenesisError, TaskError

PROGRAM = """import math
# EVOLVE-BLOCK-START
def f(x):
    return x
# EVOLVE-BLOCK-END

def main():
    pass
"""


def test_one_block_python():
    blocks = find_blocks(PROGRAM, "#")
    assert blocks == [Block(1, 4, "def f(x):\n    return x")]


def test_several_blocks_and_other_comment_syntax():
    code = "int a;\n  // EVOLVE-BLOCK-START\nint f() { return 1; }\n  // EVOLVE-BLOCK-END\nint b;\n// EVOLVE-BLOCK-START\n// EVOLVE-BLOCK-END\n"
    blocks = find_blocks(code, "//")
    assert [(b.start, b.end) for b in blocks] == [(1, 3), (5, 6)]
    assert block_texts(code, "//") == ["int f() { return 1; }", ""]


def test_markers_with_trailing_words_and_crlf():
    code = "x = 1\r\n# EVOLVE-BLOCK-START (may change)\r\ny = 2\r\n#EVOLVE-BLOCK-END\r\n"
    assert find_blocks(code, "#") == [Block(1, 3, "y = 2")]


def test_marker_word_outside_a_comment_is_not_a_marker():
    code = 'text = "EVOLVE-BLOCK-START"\n# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\n'
    assert find_blocks(code, "#") == [Block(1, 3, "x = 1")]


def test_marker_line_is_canonical():
    assert marker_line("//", "start") == f"// {MARKER_START}"
    assert marker_line("--", "end") == f"-- {MARKER_END}"


def test_no_markers_names_file_and_what_to_do():
    with pytest.raises(TaskError) as err:
        find_blocks("print(1)\n", "#", filename="initial.py")
    message = str(err.value)
    assert "initial.py has no EVOLVE-BLOCK region" in message
    assert "# EVOLVE-BLOCK-START" in message and "# EVOLVE-BLOCK-END" in message


def test_end_without_start_names_the_line():
    with pytest.raises(TaskError, match=r"initial.py line 2: '# EVOLVE-BLOCK-END' without a '# EVOLVE-BLOCK-START'"):
        find_blocks("x = 1\n# EVOLVE-BLOCK-END\n", "#", filename="initial.py")


def test_start_without_end_names_the_line():
    with pytest.raises(TaskError, match=r"main.rs line 3: '// EVOLVE-BLOCK-START' is never closed"):
        find_blocks("fn a() {}\n\n// EVOLVE-BLOCK-START\nfn b() {}\n", "//", filename="main.rs")


def test_nested_start_names_both_lines():
    code = "# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-END\n# EVOLVE-BLOCK-END\n"
    with pytest.raises(TaskError) as err:
        find_blocks(code, "#")
    assert "line 3: a second '# EVOLVE-BLOCK-START'" in str(err.value)
    assert "opened at line 1" in str(err.value)
    assert isinstance(err.value, GenesisError)


def test_markers_in_another_comment_syntax_are_not_seen():
    with pytest.raises(TaskError, match="no EVOLVE-BLOCK region"):
        find_blocks("// EVOLVE-BLOCK-START\nx\n// EVOLVE-BLOCK-END\n", "#")
