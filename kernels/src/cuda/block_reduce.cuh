// Block-wide reductions shared by the kernels (prepended to every source by sources.rs).
//
// A fixed order: a butterfly of warp shuffles, then the warps' results added (or compared) in warp
// order. Every block, and every run, combines the same values the same way, so blocks that
// reduce the same data (the fused products each normalise the same row) agree to the bit.
// blockDim.x must be a multiple of 32, at most 1024; `shared` holds one value per warp.

#define BLOCK_MAX_WARPS 32

template <typename T>
__device__ __forceinline__ T combine(T a, T b, bool is_max) {
    return is_max ? (a > b ? a : b) : a + b;
}

template <>
__device__ __forceinline__ double combine<double>(double a, double b, bool is_max) {
    return is_max ? fmax(a, b) : a + b;
}

template <>
__device__ __forceinline__ float combine<float>(float a, float b, bool is_max) {
    return is_max ? fmaxf(a, b) : a + b;
}

// The sum (or, with is_max, the maximum) of `v` over the block, returned to every thread. Starts
// and ends with a barrier, so `shared` may be reused by the next call.
template <typename T>
__device__ T block_reduce(T v, T* shared, bool is_max) {
    for (int o = 16; o > 0; o >>= 1) v = combine(v, __shfl_xor_sync(0xffffffffu, v, o), is_max);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    T r = shared[0];
    for (int i = 1; i < warps; ++i) r = combine(r, shared[i], is_max);
    return r;
}
