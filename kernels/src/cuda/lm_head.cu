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
    const long row = tokens[blockIdx.x];
    for (int i = threadIdx.x; i < cols; i += blockDim.x)
        x[(long)blockIdx.x * cols + i] = f16_to_f32(e[row * cols + i]);
}

// Greedy step on the device: the largest logit (lowest index among equal maxima; NaN never wins,
// as on the CPU) becomes the next token, is appended to `generated` at *step, and the step and
// the position advance. One block.
extern "C" __global__ void argmax_advance(const float* __restrict__ logits, int n,
                                          int* __restrict__ token, int* __restrict__ generated,
                                          int* __restrict__ step, int* __restrict__ pos,
                                          int advance) {
    __shared__ float best_v[1024];
    __shared__ int best_i[1024];
    float bv = 0.0f;
    int bi = -1;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = logits[i];
        if (v != v) continue;
        if (bi < 0 || v > bv) { bv = v; bi = i; }
    }
    best_v[threadIdx.x] = bv;
    best_i[threadIdx.x] = bi;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride) {
            const float ov = best_v[threadIdx.x + stride];
            const int oi = best_i[threadIdx.x + stride];
            const int mi = best_i[threadIdx.x];
            if (oi >= 0 && (mi < 0 || ov > best_v[threadIdx.x] ||
                            (ov == best_v[threadIdx.x] && oi < mi))) {
                best_v[threadIdx.x] = ov;
                best_i[threadIdx.x] = oi;
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        const int next = best_i[0] < 0 ? 0 : best_i[0];
        *token = next;
        generated[*step] = next;
        *step += 1;
        *pos += advance;
    }
}

// Moves the position on by `n` tokens (after a prefill, whose tokens the host supplied).
extern "C" __global__ void advance_position(int* pos, int n) {
    if (threadIdx.x == 0 && blockIdx.x == 0) *pos += n;
}
