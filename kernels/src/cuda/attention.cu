// Grouped-query attention of query rows over the KV cache, in f64 like the CPU's exact numerics:
// scores q·k / sqrt(d) and the softmax and the weighted sum of values are computed in f64 and
// rounded to f32 once, so the result is the CPU reference's to the last f32 bit except where a
// value lies within f64 rounding of an f32 rounding boundary.
//
// Grid: (heads, tokens); token t sees positions 0 ..= *pos + t (causal). Phase 1: one thread per
// position computes a whole score. Phase 2: max and Σexp over the block, then the weights e / Σe
// (as the CPU computes them) once per position. Phase 3: the threads split into groups of
// head_dim threads, each group sums the value rows of every G-th position (four running sums, so
// several loads are in flight), and the groups' partial sums are added in group order.
// `scores`: f64 scratch, [tokens][heads][capacity].

#define MAX_HEAD_DIM 256
#define MAX_THREADS 1024

__device__ __forceinline__ float rope_lo(float a, float b, float c, float s) { return a * c - b * s; }
__device__ __forceinline__ float rope_hi(float a, float b, float c, float s) { return a * s + b * c; }

// Σ over the query row `qs` (f64, in shared memory) and one cached key row (already rotated).
__device__ __forceinline__ double cached_score(const double* qs, const float* key, int head_dim) {
    const float4* kr = (const float4*)key;
    double dot = 0.0;
    for (int d4 = 0; d4 < head_dim / 4; ++d4) {
        const float4 kv = __ldg(kr + d4);
        dot += qs[4 * d4] * (double)kv.x;
        dot += qs[4 * d4 + 1] * (double)kv.y;
        dot += qs[4 * d4 + 2] * (double)kv.z;
        dot += qs[4 * d4 + 3] * (double)kv.w;
    }
    return dot;
}

// Phases 2 and 3, once the block's threads hold the scores of positions 0..ctx in `sc` and the
// largest of their own in `local_max`. Values of positions before `p0` come from the cache
// (`vc` + j·kv_dim), the rest from `v_new` (+ (j − p0)·kv_dim); both already offset to the head.
__device__ void softmax_times_values(double* sc, int ctx, double local_max, int p0,
                                     const float* vc, const float* v_new, int kv_dim,
                                     int head_dim, double* red, double* part, float* out) {
    const double max = block_reduce(local_max, red, true);
    double local_sum = 0.0;
    for (int j = threadIdx.x; j < ctx; j += blockDim.x) {
        const double e = exp(sc[j] - max);
        sc[j] = e;
        local_sum += e;
    }
    const double sum = block_reduce(local_sum, red, false);
    for (int j = threadIdx.x; j < ctx; j += blockDim.x) sc[j] = sc[j] / sum;
    __syncthreads();

    const int groups = blockDim.x / head_dim;
    const int group = threadIdx.x / head_dim, d = threadIdx.x % head_dim;
    double acc = 0.0;
    if (group < groups) {
        const float* vd = vc + d;
        const long stride = (long)groups * kv_dim;
        double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
        int j = group;
        for (; j + 3 * groups < p0; j += 4 * groups) {
            const float v0 = __ldg(vd + (long)j * kv_dim), v1 = __ldg(vd + (long)j * kv_dim + stride);
            const float v2 = __ldg(vd + (long)j * kv_dim + 2 * stride);
            const float v3 = __ldg(vd + (long)j * kv_dim + 3 * stride);
            a0 += sc[j] * (double)v0;
            a1 += sc[j + groups] * (double)v1;
            a2 += sc[j + 2 * groups] * (double)v2;
            a3 += sc[j + 3 * groups] * (double)v3;
        }
        for (; j < p0; j += groups) a0 += sc[j] * (double)__ldg(vd + (long)j * kv_dim);
        for (; j < ctx; j += groups) a1 += sc[j] * (double)v_new[(long)(j - p0) * kv_dim + d];
        acc = (a0 + a1) + (a2 + a3);
    }
    part[threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.x < head_dim) {
        double total = 0.0;
        for (int g = 0; g < groups; ++g) total += part[g * head_dim + threadIdx.x];
        out[threadIdx.x] = (float)total;
    }
}

extern "C" __global__ void attention_f64(const float* __restrict__ q, const float* __restrict__ kc,
                                         const float* __restrict__ vc, int heads, int kv_heads,
                                         int head_dim, const int* __restrict__ pos, int capacity,
                                         double* __restrict__ scores, float* __restrict__ out) {
    follow_prior_kernels();
    __shared__ double qs[MAX_HEAD_DIM];
    __shared__ double red[BLOCK_MAX_WARPS];
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
        const double s = cached_score(qs, kc + (long)j * kv_dim + kvh * head_dim, head_dim) * scale;
        sc[j] = s;
        local_max = fmax(local_max, s);
    }
    softmax_times_values(sc, ctx, local_max, ctx, vc + kvh * head_dim, vc, kv_dim, head_dim, red,
                         part, out + ((long)t * heads + h) * head_dim);
}

// The same attention with RoPE and the KV-cache store fused in (one launch instead of two).
// q, k_new, v_new are this call's projections, not yet rotated. Positions before *pos come from
// the cache; the call's own positions come from k_new / v_new, each key rotated on the fly with
// the CPU's arithmetic (a·c − b·s, a·s + b·c, no fused multiply-add), so the numbers are those of
// rope_store + attention_f64. The first block of each KV group then stores its token's rotated key
// and value in the cache for later calls; no block of this launch reads those cache rows.
extern "C" __global__ void attention_rope_f64(
    const float* __restrict__ q, const float* __restrict__ k_new, const float* __restrict__ v_new,
    const float* __restrict__ cos_t, const float* __restrict__ sin_t, float* __restrict__ kc,
    float* __restrict__ vc, int heads, int kv_heads, int head_dim, const int* __restrict__ pos,
    int capacity, double* __restrict__ scores, float* __restrict__ out) {
    follow_prior_kernels();
    __shared__ double qs[MAX_HEAD_DIM];
    __shared__ double red[BLOCK_MAX_WARPS];
    __shared__ double part[MAX_THREADS];
    const int h = blockIdx.x, t = blockIdx.y;
    const int p0 = *pos;
    const int ctx = p0 + t + 1;
    const int half = head_dim / 2;
    const int kv_dim = kv_heads * head_dim;
    const int group_size = heads / kv_heads;
    const int kvh = h / group_size;
    const float* qh = q + ((long)t * heads + h) * head_dim;
    double* sc = scores + ((long)t * heads + h) * capacity;
    const double scale = 1.0 / sqrt((double)head_dim);

    {
        const float* c = cos_t + (long)(p0 + t) * half;
        const float* s = sin_t + (long)(p0 + t) * half;
        for (int i = threadIdx.x; i < half; i += blockDim.x) {
            const float a = qh[i], b = qh[i + half];
            qs[i] = (double)rope_lo(a, b, c[i], s[i]);
            qs[i + half] = (double)rope_hi(a, b, c[i], s[i]);
        }
    }
    __syncthreads();

    double local_max = __longlong_as_double(0xfff0000000000000ULL);  // -inf
    for (int j = threadIdx.x; j < ctx; j += blockDim.x) {
        double dot = 0.0;
        if (j < p0) {
            dot = cached_score(qs, kc + (long)j * kv_dim + kvh * head_dim, head_dim);
        } else {
            const float* kr = k_new + (long)(j - p0) * kv_dim + kvh * head_dim;
            const float* c = cos_t + (long)j * half;
            const float* s = sin_t + (long)j * half;
            for (int i = 0; i < half; ++i) {
                const float a = kr[i], b = kr[i + half];
                dot += qs[i] * (double)rope_lo(a, b, c[i], s[i]);
                dot += qs[i + half] * (double)rope_hi(a, b, c[i], s[i]);
            }
        }
        const double sj = dot * scale;
        sc[j] = sj;
        local_max = fmax(local_max, sj);
    }
    softmax_times_values(sc, ctx, local_max, p0, vc + kvh * head_dim, v_new + kvh * head_dim,
                         kv_dim, head_dim, red, part, out + ((long)t * heads + h) * head_dim);

    if (h % group_size == 0) {
        const float* kr = k_new + (long)t * kv_dim + kvh * head_dim;
        const float* vr = v_new + (long)t * kv_dim + kvh * head_dim;
        const float* c = cos_t + (long)(p0 + t) * half;
        const float* s = sin_t + (long)(p0 + t) * half;
        float* kd = kc + (long)(p0 + t) * kv_dim + kvh * head_dim;
        float* vdst = vc + (long)(p0 + t) * kv_dim + kvh * head_dim;
        for (int i = threadIdx.x; i < half; i += blockDim.x) {
            const float a = kr[i], b = kr[i + half];
            kd[i] = rope_lo(a, b, c[i], s[i]);
            kd[i + half] = rope_hi(a, b, c[i], s[i]);
        }
        for (int i = threadIdx.x; i < head_dim; i += blockDim.x) vdst[i] = vr[i];
    }
}
