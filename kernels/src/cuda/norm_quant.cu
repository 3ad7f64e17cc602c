// RMSNorm, then (optionally) per-token int8 quantisation for the next ternary product.
//
// The arithmetic is the CPU's, operation for operation (compiled with --fmad=false so no multiply
// and add are fused): Σx² in f64, inv = (float)(1 / sqrt(Σx²/n + eps)), y = x·inv·g in f32;
// s = 127 / max(max|y|, 1e-5), q = clamp(rint(y·s), −128, 127) (rint rounds half to even), Σq.
// Only the order of the f64 sum differs, far below the f32 rounding of inv.

#define MAX_THREADS 1024

__device__ double block_sum_f64(double v, double* shared) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = (blockDim.x + 31) >> 5;
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    double total = 0.0;
    for (int i = 0; i < warps; ++i) total += shared[i];
    return total;
}

__device__ float block_max_f32(float v, float* shared) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = (blockDim.x + 31) >> 5;
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    float m = 0.0f;
    for (int i = 0; i < warps; ++i) m = fmaxf(m, shared[i]);
    return m;
}

__device__ int block_sum_i32(int v, int* shared) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = (blockDim.x + 31) >> 5;
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    int total = 0;
    for (int i = 0; i < warps; ++i) total += shared[i];
    return total;
}

// One block per token row of `n` values (blockDim.x a multiple of 32, at most 1024).
// quantize != 0: writes q (row stride `padded`, padding zeroed), scales[t] and sums[t].
// quantize == 0: writes the normed row to y (row stride n).
extern "C" __global__ void rms_norm_quant(const float* __restrict__ x, const float* __restrict__ g,
                                          int n, float eps, int padded, int quantize,
                                          signed char* __restrict__ q, float* __restrict__ scales,
                                          int* __restrict__ sums, float* __restrict__ y) {
    __shared__ double red_d[MAX_THREADS / 32];
    __shared__ float red_f[MAX_THREADS / 32];
    __shared__ int red_i[MAX_THREADS / 32];
    const int t = blockIdx.x;
    const float* xr = x + (long)t * n;

    double ss = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const double v = (double)xr[i];
        ss += v * v;
    }
    ss = block_sum_f64(ss, red_d);
    const double ms = ss / (double)n;
    const float inv = (float)(1.0 / sqrt(ms + (double)eps));

    if (!quantize) {
        for (int i = threadIdx.x; i < n; i += blockDim.x) y[(long)t * n + i] = xr[i] * inv * g[i];
        return;
    }
    float amax = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) amax = fmaxf(amax, fabsf(xr[i] * inv * g[i]));
    amax = block_max_f32(amax, red_f);
    const float s = 127.0f / fmaxf(amax, 1e-5f);

    signed char* qr = q + (long)t * padded;
    int sum = 0;
    for (int i = threadIdx.x; i < padded; i += blockDim.x) {
        int v = 0;
        if (i < n) {
            const float r = rintf(xr[i] * inv * g[i] * s);
            v = (int)fminf(fmaxf(r, -128.0f), 127.0f);
        }
        qr[i] = (signed char)v;
        sum += v;
    }
    sum = block_sum_i32(sum, red_i);
    if (threadIdx.x == 0) {
        scales[t] = s;
        sums[t] = sum;
    }
}
