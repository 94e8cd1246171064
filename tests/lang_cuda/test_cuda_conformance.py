"""genesis-lang-cuda against the conformance suite: builds everywhere nvcc is, runs where a GPU is."""

from pathlib import Path

from cuda_machine import CUDA_ADDRESS_SPACE_MB, require_gpu, require_no_gpu
from genesis_core.job import FailureReason, Limits
from genesis_core.testing.languages import LanguagePluginTests

from genesis_lang_cuda import CudaLanguage


class TestCuda(LanguagePluginTests):
    language_class = CudaLanguage
    limits = Limits(wall_time_s=120, memory_mb=CUDA_ADDRESS_SPACE_MB)
    main_file = "main.cu"
    hello_files = {
        "main.cu": """
        #include <cstdio>

        // EVOLVE-BLOCK-START
        __global__ void fill(char* out) {
            const char text[] = "hello genesis";
            int i = threadIdx.x;
            if (i < (int)sizeof(text)) out[i] = text[i];
        }
        // EVOLVE-BLOCK-END

        int main() {
            char* device = nullptr;
            char host[32] = {0};
            if (cudaMalloc(&device, sizeof(host)) != cudaSuccess) return 3;
            fill<<<1, 32>>>(device);
            cudaMemcpy(host, device, sizeof(host), cudaMemcpyDeviceToHost);
            std::printf("%s\\n", host);
            cudaFree(device);
            return 0;
        }
        """
    }
    broken_files = {"main.cu": "__global__ void k(float* x) { x[threadIdx.x] = missing; }\nint main() {}\n"}
    syntax_check_finds_errors = False  # nvcc finds them during the build

    def test_hello_builds_and_runs_through_the_worker(self, tmp_path: Path) -> None:
        require_gpu()
        super().test_hello_builds_and_runs_through_the_worker(tmp_path)

    def test_without_a_gpu_the_built_job_fails_as_needs_gpu(self, tmp_path: Path) -> None:
        self.require_toolchain()
        require_no_gpu()
        result = self.run_through_worker(self.hello_files, tmp_path)
        assert result.failure == FailureReason.NEEDS_GPU, f"{result.failure}: {result.error}"
        assert "running it needs a GPU" in result.error and "backend with NVIDIA GPUs" in result.error
        assert "the build itself succeeded" in result.error
        assert result.build_seconds > 0
