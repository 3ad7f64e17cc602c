//! Per-layer key/value cache, sized for the session's maximum sequence length only.
//!
//! Head-major: a layer's keys are `kv_heads` regions of `capacity × head_dim` floats, so the rows
//! one attention work item reads (one KV head, consecutive positions) are contiguous. Position-
//! major rows (`[position][kv_dim]`) made each head's 512-byte row a stride of 2.5 KB apart in
//! 2B-4T: the hardware prefetchers fetched the other heads' lines in between, and decode at 4096
//! positions streamed the cache at 11–12 GB/s instead of 16 (one process, interleaved, on the
//! Sapphire Rapids VM).

use crate::cpu::attention::KvHeads;
use crate::cpu::kv_element::{KvCacheType, KvElement};
use crate::cpu::line_aligned::LineAligned;

/// Keys and values of every layer for positions `0..len`, in the element type chosen.
#[derive(Debug)]
pub(crate) enum KvCache {
    F32(KvBuffers<f32>),
    F16(KvBuffers<half::f16>),
}

impl KvCache {
    /// An empty cache of `capacity` positions for `layers` layers of `kv_heads × head_dim`.
    pub(crate) fn new(
        kind: KvCacheType,
        layers: usize,
        kv_heads: usize,
        head_dim: usize,
        capacity: usize,
    ) -> Self {
        match kind {
            KvCacheType::F32 => Self::F32(KvBuffers::new(layers, kv_heads, head_dim, capacity)),
            KvCacheType::F16 => Self::F16(KvBuffers::new(layers, kv_heads, head_dim, capacity)),
        }
    }

    /// The element type held.
    pub(crate) fn kind(&self) -> KvCacheType {
        match self {
            Self::F32(_) => KvCacheType::F32,
            Self::F16(_) => KvCacheType::F16,
        }
    }

    /// Positions the cache holds.
    pub(crate) fn capacity(&self) -> usize {
        match self {
            Self::F32(b) => b.capacity,
            Self::F16(b) => b.capacity,
        }
    }

    /// Stores the key and value rows (`kv_heads × head_dim`, head after head) of position `pos`
    /// in layer `l`, rounded to the element type.
    pub(crate) fn store(&mut self, l: usize, pos: usize, k: &[f32], v: &[f32]) {
        match self {
            Self::F32(b) => b.store(l, pos, k, v),
            Self::F16(b) => b.store(l, pos, k, v),
        }
    }

    /// Prefetches the lines [`Self::store`] will write for `pos` in layer `l` (see
    /// [`prefetch_slice`](crate::cpu::prefetch::prefetch_slice)).
    pub(crate) fn prefetch_position(&self, l: usize, pos: usize) {
        match self {
            Self::F32(b) => b.prefetch_position(l, pos),
            Self::F16(b) => b.prefetch_position(l, pos),
        }
    }

    /// Fills positions `from..to` of every layer with copies of positions `0..from`, cyclically.
    pub(crate) fn repeat_prefix(&mut self, from: usize, to: usize) {
        match self {
            Self::F32(b) => b.repeat_prefix(from, to),
            Self::F16(b) => b.repeat_prefix(from, to),
        }
    }

    /// Bytes one position occupies over all layers (keys and values).
    pub(crate) fn bytes_per_position(&self) -> u64 {
        match self {
            Self::F32(b) => b.bytes_per_position(),
            Self::F16(b) => b.bytes_per_position(),
        }
    }
}

/// One element type's buffers: per layer, keys and values head-major.
#[derive(Debug)]
pub(crate) struct KvBuffers<E> {
    kv_heads: usize,
    head_dim: usize,
    capacity: usize,
    keys: Vec<LineAligned<E>>,
    values: Vec<LineAligned<E>>,
}

impl<E: KvElement> KvBuffers<E> {
    fn new(layers: usize, kv_heads: usize, head_dim: usize, capacity: usize) -> Self {
        // In 2 MiB pages where the kernel grants them (advised while the zeroed buffers are
        // still untouched): at 4k positions a layer's keys (10 MB in 2B-4T) outgrow the TLB's
        // reach with small pages.
        let buffer = || {
            // On a cache line, so that no 16-element row load straddles two.
            let b = LineAligned::new(kv_heads * capacity * head_dim, E::zeroed);
            crate::cpu::huge_pages::advise_huge_pages(b.as_slice());
            b
        };
        Self {
            kv_heads,
            head_dim,
            capacity,
            keys: (0..layers).map(|_| buffer()).collect(),
            values: (0..layers).map(|_| buffer()).collect(),
        }
    }

    fn head_stride(&self) -> usize {
        self.capacity * self.head_dim
    }

    /// Where KV head `h`'s row for position `pos` lies in a layer's keys (or values).
    fn row(&self, h: usize, pos: usize) -> std::ops::Range<usize> {
        let at = h * self.head_stride() + pos * self.head_dim;
        at..at + self.head_dim
    }

    fn prefetch_position(&self, l: usize, pos: usize) {
        for h in 0..self.kv_heads {
            for rows in [&self.keys[l], &self.values[l]] {
                crate::cpu::prefetch::prefetch_slice(&rows.as_slice()[self.row(h, pos)]);
            }
        }
    }

    fn store(&mut self, l: usize, pos: usize, k: &[f32], v: &[f32]) {
        let d = self.head_dim;
        for h in 0..self.kv_heads {
            let at = self.row(h, pos);
            let rows = [
                (self.keys[l].as_mut_slice(), k),
                (self.values[l].as_mut_slice(), v),
            ];
            for (dst, src) in rows {
                E::from_f32_slice(&mut dst[at.clone()], &src[h * d..(h + 1) * d]);
            }
        }
    }

    fn repeat_prefix(&mut self, from: usize, to: usize) {
        let (d, hs, heads) = (self.head_dim, self.head_stride(), self.kv_heads);
        for rows in self.keys.iter_mut().chain(self.values.iter_mut()) {
            for h in 0..heads {
                let head = &mut rows.as_mut_slice()[h * hs..(h + 1) * hs];
                for p in from..to {
                    head.copy_within((p % from) * d..(p % from + 1) * d, p * d);
                }
            }
        }
    }

    fn bytes_per_position(&self) -> u64 {
        (self.keys.len() * 2 * self.kv_heads * self.head_dim * E::BYTES) as u64
    }

    /// Keys of layer `l`.
    pub(crate) fn keys(&self, l: usize) -> KvHeads<'_, E> {
        KvHeads::new(self.keys[l].as_slice(), self.head_stride(), self.head_dim)
    }

    /// Values of layer `l`.
    pub(crate) fn values(&self, l: usize) -> KvHeads<'_, E> {
        KvHeads::new(self.values[l].as_slice(), self.head_stride(), self.head_dim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_start_on_lines<E: KvElement>(b: &KvBuffers<E>, layers: usize) {
        for l in 0..layers {
            for heads in [b.keys(l), b.values(l)] {
                for (h, j) in [(0, 0), (1, 3), (2, 7)] {
                    assert_eq!(
                        heads.row(h, j).as_ptr() as usize % 64,
                        0,
                        "layer {l} {h} {j}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_row_starts_on_a_cache_line_and_keeps_what_was_stored() {
        // head_dim 128 (512 or 256 bytes per row), capacities that are no multiple of anything.
        let (layers, heads, d, cap) = (3, 3, 128, 9);
        let mut f32s = KvBuffers::<f32>::new(layers, heads, d, cap);
        let mut f16s = KvBuffers::<half::f16>::new(layers, heads, d, cap);
        rows_start_on_lines(&f32s, layers);
        rows_start_on_lines(&f16s, layers);
        let k: Vec<f32> = (0..heads * d).map(|i| i as f32).collect();
        let v: Vec<f32> = k.iter().map(|x| -x).collect();
        f32s.store(2, 5, &k, &v);
        f16s.store(2, 5, &k, &v);
        assert_eq!(f32s.keys(2).row(1, 5), &k[d..2 * d]);
        assert_eq!(f32s.values(2).row(1, 5)[3], -(d as f32 + 3.0));
        assert_eq!(f16s.keys(2).row(2, 5)[0].to_f32(), (2 * d) as f32);
    }
}
