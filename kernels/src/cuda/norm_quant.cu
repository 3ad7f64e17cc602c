// RMSNorm, then (optionally) per-token int8 quantisation for the next ternary product.
//
// The arithmetic is the CPU's, operation for operation (compiled with --fmad=false so no multiply
// and add are fused): Σx² in f64, inv = (float)(1 / sqrt(Σx²/n + eps)), y = x·inv·g in f32;
// s = 127 / max(max|y|, 1e-5), q = clamp(rint(y·s), −128, 127) (rint rounds half to even), Σq.
// Only the order of the f64 sum differs, far below the f32 rounding of inv.

// One block per token row of `n` values (blockDim.x a multiple of 32, at most 1024).
// quantize != 0: writes q (row stride `padded`, padding zeroed), scales[t] and sums[t].
// quantize == 0: writes the normed row to y (row stride n).
extern "C" __global__ void rms_norm_quant(const float* __restrict__ x, const float* __restrict__ g,
                                          int n, float eps, int padded, int quantize,
                                          signed char* __restrict__ q, float* __restrict__ scales,
                                          int* __restrict__ sums, float* __restrict__ y) {
    follow_prior_kernels();
    __shared__ double red_d[BLOCK_MAX_WARPS];
    __shared__ float red_f[BLOCK_MAX_WARPS];
    __shared__ int red_i[BLOCK_MAX_WARPS];
    const int t = blockIdx.x;
    const float* xr = x + (long)t * n;

    double ss = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const double v = (double)xr[i];
        ss += v * v;
    }
    ss = block_reduce(ss, red_d, false);
    const double ms = ss / (double)n;
    const float inv = (float)(1.0 / sqrt(ms + (double)eps));

    if (!quantize) {
        for (int i = threadIdx.x; i < n; i += blockDim.x) y[(long)t * n + i] = xr[i] * inv * g[i];
        return;
    }
    float amax = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) amax = fmaxf(amax, fabsf(xr[i] * inv * g[i]));
    amax = block_reduce(amax, red_f, true);
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
    sum = block_reduce(sum, red_i, false);
    if (threadIdx.x == 0) {
        scales[t] = s;
        sums[t] = sum;
    }
}
