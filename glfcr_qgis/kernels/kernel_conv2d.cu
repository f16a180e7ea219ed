// Dynamic filter of GLF-CR (the authors' KernelConv2D), forward and both gradients.
//
//   out[b, c, y, x] = sum_{i, j < K} in[b, c, clamp(y + i - P), clamp(x + j - P)]
//                                      * kernel[b, c*K*K + i*K + j, y, x],      P = (K - 1) / 2
//
// The clamp is the replicate padding of the reference. All tensors are contiguous NCHW; sizes are
// arguments, not constants, so one compilation serves every tile size. One thread per output
// element; consecutive threads walk along x, so every load and store of the K*K kernel planes is
// coalesced. Sizes above 2^31 elements are handled with 64-bit offsets.

__device__ __forceinline__ int clamp_index(int v, int n) {
    return v < 0 ? 0 : (v >= n ? n - 1 : v);
}

template <typename T>
__global__ void kernel_conv2d_forward(
    const T* __restrict__ input, const T* __restrict__ kernel, T* __restrict__ output,
    const long long total, const int C, const int H, const int W, const int K)
{
    const int P = (K - 1) / 2;
    const long long plane = (long long)H * W;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        const int x = (int)(idx % W);
        const int y = (int)((idx / W) % H);
        const long long bc = idx / plane;  // b * C + c
        const T* in_plane = input + bc * plane;
        const T* k_taps = kernel + bc * (long long)(K * K) * plane + (long long)y * W + x;
        T acc = 0;
        for (int i = 0; i < K; ++i) {
            const T* in_row = in_plane + (long long)clamp_index(y + i - P, H) * W;
            for (int j = 0; j < K; ++j) {
                acc += in_row[clamp_index(x + j - P, W)] * k_taps[(long long)(i * K + j) * plane];
            }
        }
        output[idx] = acc;
    }
}

// d out / d kernel: grad_kernel[b, c*K*K + t, y, x] = grad_out[b, c, y, x] * in[b, c, clamped tap t].
template <typename T>
__global__ void kernel_conv2d_grad_kernel(
    const T* __restrict__ input, const T* __restrict__ grad_output, T* __restrict__ grad_kernel,
    const long long total, const int C, const int H, const int W, const int K)
{
    const int P = (K - 1) / 2;
    const long long plane = (long long)H * W;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        const int x = (int)(idx % W);
        const int y = (int)((idx / W) % H);
        const long long bc = idx / plane;
        const T g = grad_output[idx];
        const T* in_plane = input + bc * plane;
        T* gk = grad_kernel + bc * (long long)(K * K) * plane + (long long)y * W + x;
        for (int i = 0; i < K; ++i) {
            const T* in_row = in_plane + (long long)clamp_index(y + i - P, H) * W;
            for (int j = 0; j < K; ++j) {
                gk[(long long)(i * K + j) * plane] = g * in_row[clamp_index(x + j - P, W)];
            }
        }
    }
}

// d out / d input, as a gather (deterministic, no atomics): input pixel (yy, xx) feeds every output
// (y, x) and tap (i, j) with clamp(y + i - P) == yy and clamp(x + j - P) == xx. Inside the image that
// is one output per tap; on the first and last row and column the clamp folds several onto it.
template <typename T>
__global__ void kernel_conv2d_grad_input(
    const T* __restrict__ kernel, const T* __restrict__ grad_output, T* __restrict__ grad_input,
    const long long total, const int C, const int H, const int W, const int K)
{
    const int P = (K - 1) / 2;
    const long long plane = (long long)H * W;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        const int xx = (int)(idx % W);
        const int yy = (int)((idx / W) % H);
        const long long bc = idx / plane;
        const T* go = grad_output + bc * plane;
        const T* k_taps = kernel + bc * (long long)(K * K) * plane;
        T acc = 0;
        for (int i = 0; i < K; ++i) {
            // outputs y whose tap row i lands on yy after clamping: y + i - P in [t_lo, t_hi]
            const int t_lo_y = (yy == 0) ? -(1 << 29) : yy;
            const int t_hi_y = (yy == H - 1) ? (1 << 29) : yy;
            const int y_lo = max(0, t_lo_y - i + P);
            const int y_hi = min(H - 1, t_hi_y - i + P);
            for (int j = 0; j < K; ++j) {
                const int t_lo_x = (xx == 0) ? -(1 << 29) : xx;
                const int t_hi_x = (xx == W - 1) ? (1 << 29) : xx;
                const int x_lo = max(0, t_lo_x - j + P);
                const int x_hi = min(W - 1, t_hi_x - j + P);
                const T* k_plane = k_taps + (long long)(i * K + j) * plane;
                for (int y = y_lo; y <= y_hi; ++y) {
                    for (int x = x_lo; x <= x_hi; ++x) {
                        const long long o = (long long)y * W + x;
                        acc += go[o] * k_plane[o];
                    }
                }
            }
        }
        grad_input[idx] = acc;
    }
}
