"""Genesis language plugin for CUDA: nvcc builds, GPU-aware runs, CUDA hints."""

from genesis_lang_cuda.language import CudaLanguage
from genesis_lang_cuda.settings import CudaSettings

__all__ = ["CudaLanguage", "CudaSettings"]
