// Grouped-query attention of query rows over the KV cache, in f64 like the CPU's exact numerics:
// scores q·k / sqrt(d) and the softmax and the weighted sum of values are computed in f64 and
// rounded to f32 once, so the result is the CPU reference's to the last f32 bit except where a
// value lies within f64 rounding of an f32 rounding boundary.
//
// Grid: (heads, tokens); token t sees positions 0 ..= *pos + t (causal). Phase 1: one thread per
// position computes a whole score. Phase 2: max and Σexp over the block. Phase 3: the threads split
// into groups of head_dim threads, each group sums the value rows of every G-th position, and the
// groups' partial sums are added in group order (each group keeps four running sums so that
// several value loads are in flight). `scores`: f64 scratch, [tokens][heads][capacity].

#define MAX_HEAD_DIM 256
#define MAX_THREADS 1024

__device__ double block_reduce(double v, double* shared, bool is_max) {
    for (int o = 16; o > 0; o >>= 1) {
        const double other = __shfl_xor_sync(0xffffffffu, v, o);
        v = is_max ? fmax(v, other) : v + other;
    }
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    double r = shared[0];
    for (int i = 1; i < warps; ++i) r = is_max ? fmax(r, shared[i]) : r + shared[i];
    return r;
}

extern "C" __global__ void attention_f64(const float* __restrict__ q, const float* __restrict__ kc,
                                         const float* __restrict__ vc, int heads, int kv_heads,
                                         int head_dim, const int* __restrict__ pos, int capacity,
                                         double* __restrict__ scores, float* __restrict__ out) {
    __shared__ double qs[MAX_HEAD_DIM];
    __shared__ double red[MAX_THREADS / 32];
    __shared__ double part[MAX_THREADS];
    const int h = blockIdx.x, t = blockIdx.y;
    const int ctx = *pos + t + 1;
    const int kv_dim = kv_heads * head_dim;
    const int kvh = h / (heads / kv_heads);
    const float* qh = q + ((long)t * heads + h) * head_dim;
    double* sc = scores + ((long)t * heads + h) * capacity;
    const double scale = 1.0 / sqrt((double)head_dim);

    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) qs[d] = (double)qh[d];
    __syncthreads();

    double local_max = __longlong_as_double(0xfff0000000000000ULL);  // -inf
    for (int j = threadIdx.x; j < ctx; j += blockDim.x) {
        const float4* kr = (const float4*)(kc + (long)j * kv_dim + kvh * head_dim);
        double dot = 0.0;
        for (int d4 = 0; d4 < head_dim / 4; ++d4) {
            const float4 kv = __ldg(kr + d4);
            dot += qs[4 * d4] * (double)kv.x;
            dot += qs[4 * d4 + 1] * (double)kv.y;
            dot += qs[4 * d4 + 2] * (double)kv.z;
            dot += qs[4 * d4 + 3] * (double)kv.w;
        }
        const double s = dot * scale;
        sc[j] = s;
        local_max = fmax(local_max, s);
    }
    const double max = block_reduce(local_max, red, true);

    double local_sum = 0.0;
    for (int j = threadIdx.x; j < ctx; j += blockDim.x) {
        const double e = exp(sc[j] - max);
        sc[j] = e;
        local_sum += e;
    }
    const double sum = block_reduce(local_sum, red, false);
    // The softmax weights, e / Σe as the CPU computes them, once per position.
    for (int j = threadIdx.x; j < ctx; j += blockDim.x) sc[j] = sc[j] / sum;
    __syncthreads();

    const int groups = blockDim.x / head_dim;
    const int group = threadIdx.x / head_dim, d = threadIdx.x % head_dim;
    double acc = 0.0;
    if (group < groups) {
        // Four positions per iteration with their own sums: independent loads in flight.
        const float* vd = vc + kvh * head_dim + d;
        const long stride = (long)groups * kv_dim;
        double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
        int j = group;
        for (; j + 3 * groups < ctx; j += 4 * groups) {
            const float v0 = __ldg(vd + (long)j * kv_dim), v1 = __ldg(vd + (long)j * kv_dim + stride);
            const float v2 = __ldg(vd + (long)j * kv_dim + 2 * stride);
            const float v3 = __ldg(vd + (long)j * kv_dim + 3 * stride);
            a0 += sc[j] * (double)v0;
            a1 += sc[j + groups] * (double)v1;
            a2 += sc[j + 2 * groups] * (double)v2;
            a3 += sc[j + 3 * groups] * (double)v3;
        }
        for (; j < ctx; j += groups) a0 += sc[j] * (double)__ldg(vd + (long)j * kv_dim);
        acc = (a0 + a1) + (a2 + a3);
    }
    part[threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.x < head_dim) {
        double total = 0.0;
        for (int g = 0; g < groups; ++g) total += part[g * head_dim + threadIdx.x];
        out[((long)t * heads + h) * head_dim + threadIdx.x] = (float)total;
    }
}
