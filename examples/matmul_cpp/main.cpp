// Single-precision matrix multiply: C = A * B for n x n row-major matrices.
//
// Usage: program N A.bin B.bin C.bin
// A.bin and B.bin hold n*n float32 values each (row-major, little-endian);
// the program writes C the same way to C.bin. The evaluator times the whole
// process and checks C against a double-precision reference.

#include <cstdio>
#include <cstdlib>
#include <vector>

// EVOLVE-BLOCK-START
// The baseline: the textbook i-j-k loop. Correct, and slow: the inner loop
// walks B down a column (stride n), so nearly every access misses the cache
// and nothing vectorises.
void matmul(const float* a, const float* b, float* c, int n) {
    for (int i = 0; i < n; ++i) {
        for (int j = 0; j < n; ++j) {
            float sum = 0.0f;
            for (int k = 0; k < n; ++k) {
                sum += a[i * n + k] * b[k * n + j];
            }
            c[i * n + j] = sum;
        }
    }
}
// EVOLVE-BLOCK-END

static bool read_matrix(const char* path, std::vector<float>& m) {
    FILE* f = std::fopen(path, "rb");
    if (!f) return false;
    size_t got = std::fread(m.data(), sizeof(float), m.size(), f);
    std::fclose(f);
    return got == m.size();
}

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s N A.bin B.bin C.bin\n", argv[0]);
        return 2;
    }
    int n = std::atoi(argv[1]);
    std::vector<float> a(size_t(n) * n), b(size_t(n) * n), c(size_t(n) * n);
    if (!read_matrix(argv[2], a) || !read_matrix(argv[3], b)) {
        std::fprintf(stderr, "cannot read the input matrices\n");
        return 2;
    }
    matmul(a.data(), b.data(), c.data(), n);
    FILE* out = std::fopen(argv[4], "wb");
    if (!out || std::fwrite(c.data(), sizeof(float), c.size(), out) != c.size()) {
        std::fprintf(stderr, "cannot write %s\n", argv[4]);
        return 2;
    }
    std::fclose(out);
    return 0;
}
