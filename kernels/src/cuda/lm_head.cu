// The lm_head: logits = E · x over the F16 token embedding (tied weights), f32 accumulation; the
// embedding lookup of the next token; greedy argmax that feeds the next decode step on the device.

__device__ __forceinline__ float f16_to_f32(unsigned short h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ float dot8(uint4 w, const float4* __restrict__ x) {
    const float4 a = __ldg(x), b = __ldg(x + 1);
    float s = f16_to_f32((unsigned short)(w.x & 0xffff)) * a.x;
    s += f16_to_f32((unsigned short)(w.x >> 16)) * a.y;
    s += f16_to_f32((unsigned short)(w.y & 0xffff)) * a.z;
    s += f16_to_f32((unsigned short)(w.y >> 16)) * a.w;
    s += f16_to_f32((unsigned short)(w.z & 0xffff)) * b.x;
    s += f16_to_f32((unsigned short)(w.z >> 16)) * b.y;
    s += f16_to_f32((unsigned short)(w.w & 0xffff)) * b.z;
    s += f16_to_f32((unsigned short)(w.w >> 16)) * b.w;
    return s;
}

// A warp per row, rows strided over the grid; `chunks` = 8-value chunks per row (cols / 8).
// x: [tokens][cols], out: [tokens][rows]; grid.y over tokens.
extern "C" __global__ void f16_gemv(const uint4* __restrict__ e, int rows, int chunks,
                                    const float* __restrict__ x, float* __restrict__ out) {
    follow_prior_kernels();
    const int lane = threadIdx.x & 31;
    const int warps = blockDim.x >> 5;
    const float4* xt = (const float4*)(x + (long)blockIdx.y * chunks * 8);
    float* ot = out + (long)blockIdx.y * rows;
    for (int r = blockIdx.x * warps + (threadIdx.x >> 5); r < rows; r += gridDim.x * warps) {
        const uint4* er = e + (long)r * chunks;
        float acc = 0.0f;
        for (int c = lane; c < chunks; c += 32) acc += dot8(__ldg(er + c), xt + 2 * c);
        for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        if (lane == 0) ot[r] = acc;
    }
}

// x[t] = embedding row of tokens[t], F16 to f32 (exact). Grid: one block per token.
extern "C" __global__ void embed_f16(const unsigned short* __restrict__ e,
                                     const int* __restrict__ tokens, int cols,
                                     float* __restrict__ x) {
    follow_prior_kernels();
    const long row = tokens[blockIdx.x];
    for (int i = threadIdx.x; i < cols; i += blockDim.x)
        x[(long)blockIdx.x * cols + i] = f16_to_f32(e[row * cols + i]);
}

// The better of two (value, index) candidates: the larger value, the lower index among equal
// values; index -1 (nothing seen, or only NaN) never wins. The CPU's argmax rule.
__device__ __forceinline__ bool better(float v, int i, float bv, int bi) {
    return i >= 0 && (bi < 0 || v > bv || (v == bv && i < bi));
}

// Block-wide argmax of the block's candidates into (out_v, out_i) (blockDim a power of two).
__device__ void block_argmax(float v, int i, float* sv, int* si, float* out_v, int* out_i) {
    sv[threadIdx.x] = v;
    si[threadIdx.x] = i;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride &&
            better(sv[threadIdx.x + stride], si[threadIdx.x + stride], sv[threadIdx.x], si[threadIdx.x])) {
            sv[threadIdx.x] = sv[threadIdx.x + stride];
            si[threadIdx.x] = si[threadIdx.x + stride];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        *out_v = sv[0];
        *out_i = si[0];
    }
}

// Stage 1 of the greedy step: each block's best logit over a grid-strided share of the row.
extern "C" __global__ void argmax_partial(const float* __restrict__ logits, int n,
                                          float* __restrict__ part_v, int* __restrict__ part_i) {
    follow_prior_kernels();
    __shared__ float sv[1024];
    __shared__ int si[1024];
    float bv = 0.0f;
    int bi = -1;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        const float v = logits[i];
        if (v == v && better(v, i, bv, bi)) { bv = v; bi = i; }
    }
    block_argmax(bv, bi, sv, si, part_v + blockIdx.x, part_i + blockIdx.x);
}

// Stage 2, one block: the best of the `parts` partials becomes the next token, is appended to
// `generated` at *step, and the step and the position advance.
extern "C" __global__ void argmax_advance(const float* __restrict__ part_v,
                                          const int* __restrict__ part_i, int parts,
                                          int* __restrict__ token, int* __restrict__ generated,
                                          int* __restrict__ step, int* __restrict__ pos,
                                          int advance) {
    follow_prior_kernels();
    __shared__ float sv[1024];
    __shared__ int si[1024];
    __shared__ float best_v;
    __shared__ int best_i;
    float bv = 0.0f;
    int bi = -1;
    for (int p = threadIdx.x; p < parts; p += blockDim.x)
        if (better(part_v[p], part_i[p], bv, bi)) { bv = part_v[p]; bi = part_i[p]; }
    block_argmax(bv, bi, sv, si, &best_v, &best_i);
    __syncthreads();
    if (threadIdx.x == 0) {
        const int next = best_i < 0 ? 0 : best_i;
        *token = next;
        generated[*step] = next;
        *step += 1;
        *pos += advance;
    }
}

// Moves the position on by `n` tokens (after a prefill, whose tokens the host supplied).
extern "C" __global__ void advance_position(int* pos, int n) {
    follow_prior_kernels();
    if (threadIdx.x == 0 && blockIdx.x == 0) *pos += n;
}
