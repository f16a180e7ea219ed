// Runs the kernels of glfcr_qgis/kernels/kernel_conv2d.cu on the CPU over their whole launch grid.
// Built by tests/kernels/test_kernel_source.py as a shared library and called through ctypes.
#include "cuda_on_cpu.h"
#include "kernel_conv2d.cu"

template <typename T>
using KernelFunction = void (*)(const T*, const T*, T*, long long, int, int, int, int);

// every thread of a (blocks x threads) one-dimensional grid, in order
template <typename T>
static void run_grid(KernelFunction<T> kernel, unsigned blocks, unsigned threads, const T* a, const T* b, T* c,
                     long long total, int C, int H, int W, int K) {
    gridDim = dim3(blocks);
    blockDim = dim3(threads);
    for (unsigned block = 0; block < blocks; ++block) {
        blockIdx = dim3(block);
        for (unsigned thread = 0; thread < threads; ++thread) {
            threadIdx = dim3(thread);
            kernel(a, b, c, total, C, H, W, K);
        }
    }
}

#define EXPORT_KERNEL(NAME, T)                                                                              \
    extern "C" void NAME##__##T(const T* a, const T* b, T* c, long long total, int C, int H, int W, int K,  \
                                unsigned blocks, unsigned threads) {                                        \
        run_grid<T>(NAME<T>, blocks, threads, a, b, c, total, C, H, W, K);                                  \
    }

EXPORT_KERNEL(kernel_conv2d_forward, float)
EXPORT_KERNEL(kernel_conv2d_forward, double)
EXPORT_KERNEL(kernel_conv2d_grad_kernel, float)
EXPORT_KERNEL(kernel_conv2d_grad_kernel, double)
EXPORT_KERNEL(kernel_conv2d_grad_input, float)
EXPORT_KERNEL(kernel_conv2d_grad_input, double)
