// Dot product of two float32 vectors on the GPU.
//
// Usage: program N REPS x.bin y.bin
// x.bin and y.bin hold N float32 values each (little-endian). The vectors are
// copied to the GPU once; gpu_dot() then runs REPS times and the last result
// is printed. The evaluator times the program with REPS = 1 and with many
// REPS and divides the difference, so start-up and copies cancel out.

#include <cstdio>
#include <cstdlib>
#include <vector>

#include <cuda_runtime.h>

// EVOLVE-BLOCK-START
// The baseline: one element per thread, a shared-memory tree with interleaved
// addressing (divergent warps, bank conflicts), one partial sum per block
// summed on the host. Correct, and slow.
__global__ void dot_partial(const float* x, const float* y, float* partial, int n) {
    extern __shared__ float cache[];
    unsigned tid = threadIdx.x;
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    cache[tid] = i < (unsigned)n ? x[i] * y[i] : 0.0f;
    __syncthreads();
    for (unsigned s = 1; s < blockDim.x; s *= 2) {
        if (tid % (2 * s) == 0) cache[tid] += cache[tid + s];
        __syncthreads();
    }
    if (tid == 0) partial[blockIdx.x] = cache[0];
}

double gpu_dot(const float* x, const float* y, int n) {
    const int threads = 256;
    const int blocks = (n + threads - 1) / threads;
    static float* partial = nullptr;
    static std::vector<float> host;
    if ((int)host.size() < blocks) {
        cudaFree(partial);
        cudaMalloc(&partial, blocks * sizeof(float));
        host.resize(blocks);
    }
    dot_partial<<<blocks, threads, threads * sizeof(float)>>>(x, y, partial, n);
    cudaMemcpy(host.data(), partial, blocks * sizeof(float), cudaMemcpyDeviceToHost);
    double sum = 0.0;
    for (int b = 0; b < blocks; ++b) sum += host[b];
    return sum;
}
// EVOLVE-BLOCK-END

static bool read_vector(const char* path, std::vector<float>& v) {
    FILE* f = std::fopen(path, "rb");
    if (!f) return false;
    size_t got = std::fread(v.data(), sizeof(float), v.size(), f);
    std::fclose(f);
    return got == v.size();
}

static void check(cudaError_t status, const char* what) {
    if (status != cudaSuccess) {
        std::fprintf(stderr, "CUDA error in %s: %s\n", what, cudaGetErrorString(status));
        std::exit(3);
    }
}

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s N REPS x.bin y.bin\n", argv[0]);
        return 2;
    }
    const int n = std::atoi(argv[1]);
    const int reps = std::atoi(argv[2]);
    if (n < 1 || reps < 1) {
        std::fprintf(stderr, "N and REPS must be positive\n");
        return 2;
    }
    std::vector<float> x(n), y(n);
    if (!read_vector(argv[3], x) || !read_vector(argv[4], y)) {
        std::fprintf(stderr, "cannot read the input vectors\n");
        return 2;
    }
    float *dx = nullptr, *dy = nullptr;
    check(cudaMalloc(&dx, n * sizeof(float)), "cudaMalloc");
    check(cudaMalloc(&dy, n * sizeof(float)), "cudaMalloc");
    check(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
    check(cudaMemcpy(dy, y.data(), n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
    double result = 0.0;
    for (int r = 0; r < reps; ++r) result = gpu_dot(dx, dy, n);
    check(cudaGetLastError(), "a kernel launch");
    check(cudaDeviceSynchronize(), "the kernels");
    std::printf("%.17g\n", result);
    return 0;
}
