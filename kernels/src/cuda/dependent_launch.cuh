// Programmatic dependent launch (compute capability 9.0 and later), prepended to every source.
//
// With `dependent_launch=true` the forward pass's kernels are launched with the programmatic
// stream serialization attribute: a kernel may start once every block of the kernel ahead of it
// has called allow_next_kernel(), while that kernel still runs. So every such kernel, in every
// thread:
//   1. reads only what no kernel writes (the products' weights) before wait_for_prior_kernels(),
//      which returns once the kernel ahead has finished and its writes are visible;
//   2. waits before any thread returns: a block that left without waiting would let its grid
//      finish before the grid ahead of it, and the kernel after it would read unfinished data;
//   3. calls allow_next_kernel() right after the wait, so the next kernel can load its weights
//      while this one computes; the one after that is held back by the next kernel's own wait,
//      so at most two grids overlap.
// Without the attribute, or compiled for an older device, both are no-ops.

__device__ __forceinline__ void wait_for_prior_kernels() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void allow_next_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Both, for a kernel with nothing to load before it waits.
__device__ __forceinline__ void follow_prior_kernels() {
    wait_for_prior_kernels();
    allow_next_kernel();
}
