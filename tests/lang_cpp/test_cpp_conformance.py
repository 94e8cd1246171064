"""genesis-lang-cpp against the conformance suite of genesis_core.testing, with g++ and with clang++."""

import shutil

import pytest
from genesis_core.testing.languages import LanguagePluginTests

from genesis_lang_cpp import CppLanguage

HELLO = {
    "main.cpp": """
    #include <cstdio>
    #include "greeting.hpp"

    // EVOLVE-BLOCK-START
    int main() {
        std::puts(greeting());
        return 0;
    }
    // EVOLVE-BLOCK-END
    """,
    "greeting.hpp": "const char* greeting();\n",
    "greeting.cpp": """
    #include "greeting.hpp"
    const char* greeting() { return "hello genesis"; }
    """,
}
BROKEN = {"main.cpp": "int main() { return undefined_name; }\n"}


class TestCppWithGcc(LanguagePluginTests):
    language_class = CppLanguage
    main_file = "main.cpp"
    hello_files = HELLO
    broken_files = BROKEN
    syntax_check_finds_errors = False  # the compiler finds them during the build


class TestCppWithClang(LanguagePluginTests):
    language_class = CppLanguage
    settings = {"compiler": "clang++", "march": "native"}
    main_file = "main.cpp"
    hello_files = HELLO
    broken_files = BROKEN
    syntax_check_finds_errors = False

    @pytest.fixture(autouse=True)
    def _needs_clang(self):
        if shutil.which("clang++") is None:
            pytest.skip("clang++ is not installed here (apt-get install clang)")
