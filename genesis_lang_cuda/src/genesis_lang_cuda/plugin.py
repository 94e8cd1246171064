"""Entry point of genesis-lang-cuda: registers the `cuda` language."""

from genesis_core.hookspecs import hookimpl

from genesis_lang_cuda.language import CudaLanguage


@hookimpl
def register_languages(register):
    register(CudaLanguage)
