"""The built-in Python language: the conformance suite, plus its own syntax reports and hints."""

from __future__ import annotations

import sys

from genesis_core.languages.python import PythonLanguage
from genesis_core.plugins import PluginHost
from genesis_core.testing import LanguagePluginTests

HELLO = '''\
import sys

# EVOLVE-BLOCK-START
def greeting():
    return "hello genesis"
# EVOLVE-BLOCK-END

if __name__ == "__main__":
    print(greeting(), *sys.argv[1:])
'''


class TestPythonLanguage(LanguagePluginTests):
    language_class = PythonLanguage
    main_file = "main.py"
    hello_files = {"main.py": HELLO}
    broken_files = {"main.py": "def greeting(:\n    return 1\n"}
    run_args = ("from", "args")
    hello_output = "hello genesis from args"


def test_registered_by_genesis_core():
    host = PluginHost(environ={"GENESIS_LOAD_PLUGINS": ""})
    host.load_entry_points()
    assert host.get("languages", "python") is PythonLanguage
    assert host.registry.source_of("languages", "python").dist == "genesis-core"


def test_syntax_error_names_file_line_and_points_at_it():
    error = PythonLanguage().check_syntax({"main.py": "x = 1\nif x\n    pass\n", "README.md": "not python ("}, "main.py")
    assert error is not None
    assert error.startswith("main.py:2: SyntaxError:")
    assert "if x" in error and "^" in error


def test_every_python_file_is_checked_not_only_the_main_one():
    error = PythonLanguage().check_syntax({"main.py": "import helper\n", "helper.py": "def f(:\n"}, "main.py")
    assert error is not None and error.startswith("helper.py:1:")


def test_run_command_uses_this_interpreter_and_keeps_the_script_folder_importable():
    argv = PythonLanguage().run_command("main.py", ["1"])
    assert argv[0] == sys.executable
    assert "-I" not in argv  # -I would hide the candidate's own modules next to main.py
    assert argv[-2:] == ["main.py", "1"]


def test_hints_speak_python():
    hints = PythonLanguage().hints()
    assert "NumPy" in hints and "loop" in hints
