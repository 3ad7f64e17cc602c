// RoPE (NEOX: dimension i pairs with i + d/2 in each head) on Q and K, then K and V into the
// layer's KV cache. Positions come from device memory (`pos` + token index), so the decode step
// can be captured once in a CUDA graph and replayed at every position.
//
// cos/sin are the CPU's table (angles computed in f64, rounded to f32), uploaded once; the
// rotation a·c − b·s, a·s + b·c is the CPU's (compiled with --fmad=false: no fused multiply-add).

// Grid: one block per token. q: [tokens][heads·head_dim]; k, v: [tokens][kv_dim];
// kc, vc: this layer's cache, [capacity][kv_dim].
extern "C" __global__ void rope_store(float* __restrict__ q, float* __restrict__ k,
                                      const float* __restrict__ v, const float* __restrict__ cos_t,
                                      const float* __restrict__ sin_t, int heads, int kv_heads,
                                      int head_dim, const int* __restrict__ pos,
                                      float* __restrict__ kc, float* __restrict__ vc) {
    follow_prior_kernels();
    const int t = blockIdx.x;
    const int p = *pos + t;
    const int half = head_dim / 2;
    const int kv_dim = kv_heads * head_dim;
    const float* c = cos_t + (long)p * half;
    const float* s = sin_t + (long)p * half;
    float* qt = q + (long)t * heads * head_dim;
    float* kt = k + (long)t * kv_dim;
    const int pairs = (heads + kv_heads) * half;
    for (int i = threadIdx.x; i < pairs; i += blockDim.x) {
        const int head = i / half, j = i % half;
        float* base = head < heads ? qt + head * head_dim : kt + (head - heads) * head_dim;
        const float a = base[j], b = base[j + half];
        base[j] = a * c[j] - b * s[j];
        base[j + half] = a * s[j] + b * c[j];
    }
    __syncthreads();
    const float* vt = v + (long)t * kv_dim;
    for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) {
        kc[(long)p * kv_dim + i] = kt[i];
        vc[(long)p * kv_dim + i] = vt[i];
    }
}
