"""Genesis language plugin for C++: g++/clang++, target flags, vectorisation report."""

from genesis_lang_cpp.language import CppLanguage
from genesis_lang_cpp.settings import CppSettings

__all__ = ["CppLanguage", "CppSettings"]
