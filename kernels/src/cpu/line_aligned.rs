//! Buffers whose used part starts on a 64-byte cache line.
//!
//! A heap buffer is 16-byte aligned: a 64-byte vector load from it straddles two cache lines
//! three times in four, and which of the four a buffer gets depends on the allocator's state.
//! On the Zen 5 VM that decided 2b4t prefill between 205 and 263 tokens/s from one process to
//! the next (see `i2s_avx512::InterleavedActs`). The buffers the SIMD kernels load row after row
//! (activations, KV rows, the lm_head's x) are kept in one of these.

/// `len` elements inside a slightly longer vector, the first on a 64-byte boundary.
#[derive(Debug, Clone)]
pub struct LineAligned<T> {
    data: Vec<T>,
    offset: usize,
    len: usize,
}

impl<T> LineAligned<T> {
    /// `len` elements taken from `alloc(n)`, which must return `n` elements (zeroed ones where
    /// the pages should stay untouched until first written, e.g. for huge-page advice).
    pub fn new(len: usize, alloc: impl FnOnce(usize) -> Vec<T>) -> Self {
        let slack = 64 / std::mem::size_of::<T>().clamp(1, 64);
        let data = alloc(len + slack);
        let offset = data.as_ptr().align_offset(64).min(slack);
        Self { data, offset, len }
    }

    /// The aligned elements.
    pub fn as_slice(&self) -> &[T] {
        &self.data[self.offset..self.offset + self.len]
    }

    /// The aligned elements, writable.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data[self.offset..self.offset + self.len]
    }
}

impl<T: Copy + Default> LineAligned<T> {
    /// An aligned copy of `x`.
    pub fn copy_of(x: &[T]) -> Self {
        let mut b = Self::new(x.len(), |n| vec![T::default(); n]);
        b.as_mut_slice().copy_from_slice(x);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_element_type_starts_on_a_line_and_keeps_its_length_and_contents() {
        for len in [0, 1, 17, 1000] {
            let a = LineAligned::new(len, |n| vec![0i8; n]);
            assert_eq!(
                (a.as_slice().as_ptr() as usize % 64, a.as_slice().len()),
                (0, len)
            );
            let x: Vec<f32> = (0..len).map(|i| i as f32).collect();
            for skip in 0..len.min(16) {
                let c = LineAligned::copy_of(&x[skip..]);
                assert_eq!(c.as_slice().as_ptr() as usize % 64, 0);
                assert_eq!(c.as_slice(), &x[skip..]);
            }
        }
    }
}
