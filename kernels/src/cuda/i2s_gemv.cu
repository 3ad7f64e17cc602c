// I2_S (W2A8) matrix-vector and small-batch matrix products.
//
// Weights are the packed I2_S bytes exactly as the CPU kernels read them (rows on 32-byte block
// boundaries, uploaded once). Within a 32-byte block, byte b holds weights b, b+32, b+64, b+96 at
// bit shifts 6, 4, 2, 0, so one 4-byte word shifted and masked with 0x03030303 gives the codes of
// four consecutive weights, which meet four consecutive int8 activations in one dp4a. Codes are
// 0, 1, 2 (= -1, 0, +1): the sum is Σ code·q, and Σ t·q = Σ code·q − Σq as on the CPU.
//
// A group of `lanes` threads computes one row; each thread takes 16-byte chunks (half a block)
// lane, lane + lanes, ... and the group reduces with shuffles (fixed order: integer sums are exact
// anyway). TILE tokens share each weight chunk, loaded once.

#define MODE_STORE 0     // out_m[t * rows_m + r] = y            (m = 0, 1, 2 stacked: Q, K, V)
#define MODE_RESIDUAL 1  // out_0[t * rows_0 + r] += y           (O and down: the residual add)
#define MODE_GATE_UP 2   // out_0 = relu(gate)^2 * up            (w_0 = gate, w_1 = up)
#define MODE_RAW 3       // out_0 as int: Σ t·q, no scales       (the kernel cross-validation)

__device__ __forceinline__ int dp4a(int a, int b, int c) {
    int d;
    asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

// x0..x3: the activations meeting this chunk at shifts 6, 4, 2, 0 (weights 32k + 16h + 0..15 of
// the block for shift group k and chunk half h).
__device__ __forceinline__ int chunk_dot(uint4 w, int4 x0, int4 x1, int4 x2, int4 x3, int acc) {
    const unsigned m = 0x03030303u;
    acc = dp4a((int)((w.x >> 6) & m), x0.x, acc);
    acc = dp4a((int)((w.y >> 6) & m), x0.y, acc);
    acc = dp4a((int)((w.z >> 6) & m), x0.z, acc);
    acc = dp4a((int)((w.w >> 6) & m), x0.w, acc);
    acc = dp4a((int)((w.x >> 4) & m), x1.x, acc);
    acc = dp4a((int)((w.y >> 4) & m), x1.y, acc);
    acc = dp4a((int)((w.z >> 4) & m), x1.z, acc);
    acc = dp4a((int)((w.w >> 4) & m), x1.w, acc);
    acc = dp4a((int)((w.x >> 2) & m), x2.x, acc);
    acc = dp4a((int)((w.y >> 2) & m), x2.y, acc);
    acc = dp4a((int)((w.z >> 2) & m), x2.z, acc);
    acc = dp4a((int)((w.w >> 2) & m), x2.w, acc);
    acc = dp4a((int)(w.x & m), x3.x, acc);
    acc = dp4a((int)(w.y & m), x3.y, acc);
    acc = dp4a((int)(w.z & m), x3.z, acc);
    acc = dp4a((int)(w.w & m), x3.w, acc);
    return acc;
}

// The f32 output of one dot, as the CPU epilogue computes it: (Σ t·q) / s · w_scale.
__device__ __forceinline__ float dequantize(int dot, float act_scale, float weight_scale) {
    return __int2float_rn(dot) / act_scale * weight_scale;
}

// Which of the up to three stacked matrices global row `row` belongs to (*m) and its row in it
// (*r). The gate/up product has one row space (both matrices share it).
__device__ __forceinline__ void locate_row(int row, int rows0, int rows1, int mode, int* m, int* r) {
    *m = 0;
    *r = row;
    if (mode == MODE_GATE_UP) return;
    if (*r >= rows0) { *r -= rows0; *m = 1; }
    if (*m == 1 && *r >= rows1) { *r -= rows1; *m = 2; }
}

// Writes output `o` of matrix m: `dot` = Σ code·q − Σq of its row (`dot_up` of the up row).
__device__ __forceinline__ void epilogue(int mode, int m, long o, int dot, int dot_up,
                                         float act_scale, float s0, float s1, float s2,
                                         float* out0, float* out1, float* out2) {
    const float ws = m == 0 ? s0 : (m == 1 ? s1 : s2);
    float* out = m == 0 ? out0 : (m == 1 ? out1 : out2);
    if (mode == MODE_RAW) {
        ((int*)out)[o] = dot;
    } else if (mode == MODE_STORE) {
        out[o] = dequantize(dot, act_scale, ws);
    } else if (mode == MODE_RESIDUAL) {
        out[o] = out[o] + dequantize(dot, act_scale, ws);
    } else {
        const float g = fmaxf(dequantize(dot, act_scale, s0), 0.0f);
        const float u = dequantize(dot_up, act_scale, s1);
        out[o] = g * g * u;
    }
}

// Weight chunks a lane loads before it waits for the kernel ahead: the first PRELOAD of its row
// share, which is all of it for rows of up to PRELOAD × lanes chunks (every 2B-4T row at 32 lanes:
// 6912 columns are 108 chunks). Weights are written by no kernel, so these loads may overlap the
// kernel ahead (dependent_launch.cuh); without a dependent launch they are simply issued together.
#define PRELOAD 4

__device__ __forceinline__ void preload_row(const uint4* __restrict__ w, int chunks, int lane,
                                            int lanes, bool active, uint4* pre) {
#pragma unroll
    for (int j = 0; j < PRELOAD; ++j) {
        const int c = lane + j * lanes;
        pre[j] = active && c < chunks ? __ldg(w + c) : make_uint4(0u, 0u, 0u, 0u);
    }
}

// Chunk `c` (weights `wv`) against the activations of up to TILE tokens.
template <int TILE>
__device__ __forceinline__ void chunk_tokens(uint4 wv, int c, const int4* __restrict__ x,
                                             int x_stride, int tokens, int* acc) {
    // Shift group k of this chunk's block half starts 2k int4s further.
    const int off = (c >> 1) * 8 + (c & 1);
#pragma unroll
    for (int t = 0; t < TILE; ++t) {
        if (t < tokens) {
            const int4* xb = x + t * x_stride + off;
            acc[t] = chunk_dot(wv, __ldg(xb), __ldg(xb + 2), __ldg(xb + 4), __ldg(xb + 6), acc[t]);
        }
    }
}

// One row's share of a lane: the preloaded chunks, then the rest of the row from memory.
template <int TILE>
__device__ __forceinline__ void row_dots(const uint4* pre, const uint4* __restrict__ w, int chunks,
                                         const int4* __restrict__ x, int x_stride, int tokens,
                                         int lane, int lanes, int* acc) {
#pragma unroll
    for (int j = 0; j < PRELOAD; ++j) {
        const int c = lane + j * lanes;
        if (c < chunks) chunk_tokens<TILE>(pre[j], c, x, x_stride, tokens, acc);
    }
    for (int c = lane + PRELOAD * lanes; c < chunks; c += lanes)
        chunk_tokens<TILE>(__ldg(w + c), c, x, x_stride, tokens, acc);
}

__device__ __forceinline__ int group_sum(int v, int lanes) {
    for (int o = lanes >> 1; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Grid: x over row groups (blockDim.x / lanes rows per block), y over token tiles of TILE.
// `chunks` = 16-byte chunks per row (row bytes / 16); `x_stride` = int4s per token row of
// activations (padded columns / 16). Rows of the three stacked matrices: rows0, rows1, rows2.
template <int TILE>
__device__ void i2s_mm(const uint4* __restrict__ w0, const uint4* __restrict__ w1,
                       const uint4* __restrict__ w2, int rows0, int rows1, int rows2,
                       float s0, float s1, float s2, float* out0, float* out1, float* out2,
                       int chunks, const int4* __restrict__ x, int x_stride,
                       const int* __restrict__ sums, const float* __restrict__ scales,
                       int tokens, int lanes, int mode) {
    const int lane = threadIdx.x % lanes;
    const int row = blockIdx.x * (blockDim.x / lanes) + threadIdx.x / lanes;
    const int t0 = blockIdx.y * TILE;
    const int n = min(TILE, tokens - t0);
    const int total = mode == MODE_GATE_UP ? rows0 : rows0 + rows1 + rows2;
    const bool active = row < total;
    const int4* xt = x + t0 * x_stride;

    int m, r;
    locate_row(row, rows0, rows1, mode, &m, &r);
    const uint4* w = m == 0 ? w0 : (m == 1 ? w1 : w2);
    const long row_off = (long)r * chunks;

    const bool gate_up = mode == MODE_GATE_UP;
    uint4 pre[PRELOAD], pre_up[PRELOAD];
    preload_row(w + row_off, chunks, lane, lanes, active, pre);
    preload_row(w1 + row_off, chunks, lane, lanes, active && gate_up, pre_up);
    follow_prior_kernels();

    int acc[TILE], acc_up[TILE];
#pragma unroll
    for (int t = 0; t < TILE; ++t) { acc[t] = 0; acc_up[t] = 0; }
    if (active) {
        row_dots<TILE>(pre, w + row_off, chunks, xt, x_stride, n, lane, lanes, acc);
        if (gate_up) row_dots<TILE>(pre_up, w1 + row_off, chunks, xt, x_stride, n, lane, lanes, acc_up);
    }
#pragma unroll
    for (int t = 0; t < TILE; ++t) {
        acc[t] = group_sum(acc[t], lanes);
        if (mode == MODE_GATE_UP) acc_up[t] = group_sum(acc_up[t], lanes);
    }
    if (!active || lane != 0) return;

    const int rows_m = m == 0 ? rows0 : (m == 1 ? rows1 : rows2);
#pragma unroll
    for (int t = 0; t < TILE; ++t) {
        if (t >= n) break;
        const int tok = t0 + t;
        epilogue(mode, m, (long)tok * rows_m + r, acc[t] - sums[tok], acc_up[t] - sums[tok],
                 scales[tok], s0, s1, s2, out0, out1, out2);
    }
}

#define I2S_MM_ENTRY(NAME, TILE)                                                               \
    extern "C" __global__ void NAME(const uint4* w0, const uint4* w1, const uint4* w2,          \
                                    int rows0, int rows1, int rows2, float s0, float s1,        \
                                    float s2, float* out0, float* out1, float* out2,            \
                                    int chunks, const int4* x, int x_stride, const int* sums,   \
                                    const float* scales, int tokens, int lanes, int mode) {     \
        i2s_mm<TILE>(w0, w1, w2, rows0, rows1, rows2, s0, s1, s2, out0, out1, out2, chunks, x, \
                     x_stride, sums, scales, tokens, lanes, mode);                             \
    }

// One token (decode) and token tiles of 4 and 8 (prefill).
I2S_MM_ENTRY(i2s_mm_t1, 1)
I2S_MM_ENTRY(i2s_mm_t4, 4)
I2S_MM_ENTRY(i2s_mm_t8, 8)

// ---------------------------------------------------------------------------------------------
// Decode (one token) with the RMSNorm and int8 quantisation of the input fused in: every block
// normalises and quantises the f32 input row itself, into shared memory, then computes its rows.
// The blocks do identical arithmetic in an identical order, so they hold identical activations;
// the arithmetic is rms_norm_quant's (norm_quant.cu), which is the CPU's. One launch instead of
// two, and the activations come from shared memory.

#define FUSED_MAX_COLS 8192

// Arguments as i2s_mm's, with the f32 input row `xin` of `n` values and its norm weights `gn`
// instead of quantised activations (x_stride = padded n / 16).
extern "C" __global__ void i2s_mm_norm_t1(const uint4* w0, const uint4* w1, const uint4* w2,
                                          int rows0, int rows1, int rows2, float s0, float s1,
                                          float s2, float* out0, float* out1, float* out2,
                                          int chunks, const float* __restrict__ xin,
                                          const float* __restrict__ gn, int n, float eps,
                                          int x_stride, int lanes, int mode) {
    follow_prior_kernels();
    __shared__ int4 qs[FUSED_MAX_COLS / 16];
    __shared__ double red_d[BLOCK_MAX_WARPS];
    __shared__ float red_f[BLOCK_MAX_WARPS];
    __shared__ int red_i[BLOCK_MAX_WARPS];

    double ss = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const double v = (double)xin[i];
        ss += v * v;
    }
    ss = block_reduce(ss, red_d, false);
    const float inv = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    float amax = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) amax = fmaxf(amax, fabsf(xin[i] * inv * gn[i]));
    amax = block_reduce(amax, red_f, true);
    const float scale = 127.0f / fmaxf(amax, 1e-5f);
    signed char* qb = (signed char*)qs;
    int qsum = 0;
    for (int i = threadIdx.x; i < x_stride * 16; i += blockDim.x) {
        int v = 0;
        if (i < n) v = (int)fminf(fmaxf(rintf(xin[i] * inv * gn[i] * scale), -128.0f), 127.0f);
        qb[i] = (signed char)v;
        qsum += v;
    }
    qsum = block_reduce(qsum, red_i, false);  // its barriers make qs complete

    const int lane = threadIdx.x % lanes;
    const int row = blockIdx.x * (blockDim.x / lanes) + threadIdx.x / lanes;
    const int total = mode == MODE_GATE_UP ? rows0 : rows0 + rows1 + rows2;
    const bool active = row < total;
    int m, r;
    locate_row(row, rows0, rows1, mode, &m, &r);
    const uint4* w = m == 0 ? w0 : (m == 1 ? w1 : w2);
    const long row_off = (long)r * chunks;
    int acc = 0, acc_up = 0;
    if (active) {
        for (int c = lane; c < chunks; c += lanes) {
            const int4* xb = qs + (c >> 1) * 8 + (c & 1);
            const int4 x0 = xb[0], x1 = xb[2], x2 = xb[4], x3 = xb[6];
            acc = chunk_dot(__ldg(w + row_off + c), x0, x1, x2, x3, acc);
            if (mode == MODE_GATE_UP) acc_up = chunk_dot(__ldg(w1 + row_off + c), x0, x1, x2, x3, acc_up);
        }
    }
    acc = group_sum(acc, lanes);
    if (mode == MODE_GATE_UP) acc_up = group_sum(acc_up, lanes);
    if (!active || lane != 0) return;
    epilogue(mode, m, r, acc - qsum, acc_up - qsum, scale, s0, s1, s2, out0, out1, out2);
}
