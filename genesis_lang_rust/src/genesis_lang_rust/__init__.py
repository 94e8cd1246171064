"""Genesis language plugin for Rust: rustc single files, Cargo projects, criterion fitness."""

from genesis_lang_rust.language import RustLanguage
from genesis_lang_rust.settings import RustSettings

__all__ = ["RustLanguage", "RustSettings"]
