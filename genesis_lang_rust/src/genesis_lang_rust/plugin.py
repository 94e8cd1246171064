"""Entry point of genesis-lang-rust: registers the `rust` language."""

from genesis_core.hookspecs import hookimpl

from genesis_lang_rust.language import RustLanguage


@hookimpl
def register_languages(register):
    register(RustLanguage)
