"""Entry point of genesis-lang-cpp: registers the `cpp` language."""

from genesis_core.hookspecs import hookimpl

from genesis_lang_cpp.language import CppLanguage


@hookimpl
def register_languages(register):
    register(CppLanguage)
