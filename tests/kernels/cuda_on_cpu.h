// Just enough of CUDA's device-side C++ for glfcr_qgis/kernels/kernel_conv2d.cu to compile as plain C++.
//
// A kernel becomes an ordinary function; the launcher in cpu_runner.cpp calls it once per thread of
// the grid, one after the other, with threadIdx/blockIdx set as CUDA would. That is a faithful
// execution of kernels that, like these, use no shared memory, no __syncthreads and no atomics: every
// thread's result depends only on its indices and the global memory it reads.
#pragma once

struct dim3 {
    unsigned int x, y, z;
    dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

static dim3 threadIdx, blockIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
// __restrict__ is a GNU C++ keyword already

// CUDA's integer max/min of the device runtime
static inline int max(int a, int b) { return a > b ? a : b; }
static inline int min(int a, int b) { return a < b ? a : b; }
