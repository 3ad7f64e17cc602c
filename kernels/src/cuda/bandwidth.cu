// Device memory bandwidth, measured in the same run as the kernels it is a roofline for: a copy
// (bytes read + bytes written) and a read-only pass (bytes read), both 16 bytes per access,
// grid-strided.

extern "C" __global__ void copy_f4(const float4* __restrict__ src, float4* __restrict__ dst,
                                   long n) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n;
         i += (long)gridDim.x * blockDim.x)
        dst[i] = __ldg(src + i);
}

// Sums every value so the loads cannot be dropped; one partial per block into `sink`.
extern "C" __global__ void read_f4(const float4* __restrict__ src, long n, float* __restrict__ sink) {
    float acc = 0.0f;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n;
         i += (long)gridDim.x * blockDim.x) {
        const float4 v = __ldg(src + i);
        acc += v.x + v.y + v.z + v.w;
    }
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if ((threadIdx.x & 31) == 0) atomicAdd(sink + blockIdx.x, acc);
}
