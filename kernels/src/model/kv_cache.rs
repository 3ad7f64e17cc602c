//! Per-layer key/value cache, sized for the session's maximum sequence length only.
//!
//! Head-major: a layer's keys are `kv_heads` regions of `capacity × head_dim` floats, so the rows
//! one attention work item reads (one KV head, consecutive positions) are contiguous. Position-
//! major rows (`[position][kv_dim]`) made each head's 512-byte row a stride of 2.5 KB apart in
//! 2B-4T: the hardware prefetchers fetched the other heads' lines in between, and decode at 4096
//! positions streamed the cache at 11–12 GB/s instead of 16 (one process, interleaved, on the
//! Sapphire Rapids VM).

use crate::cpu::attention::KvHeads;

/// Keys and values of every layer for positions `0..len`.
#[derive(Debug)]
pub(crate) struct KvCache {
    kv_heads: usize,
    head_dim: usize,
    capacity: usize,
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
}

impl KvCache {
    /// An empty cache of `capacity` positions for `layers` layers of `kv_heads × head_dim`.
    pub(crate) fn new(layers: usize, kv_heads: usize, head_dim: usize, capacity: usize) -> Self {
        // In 2 MiB pages where the kernel grants them (advised while the zeroed buffers are
        // still untouched): at 4k positions a layer's keys (10 MB in 2B-4T) outgrow the TLB's
        // reach with small pages.
        let buffer = || {
            let b = vec![0.0; kv_heads * capacity * head_dim];
            crate::cpu::huge_pages::advise_huge_pages(&b);
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

    /// Positions the cache holds.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn head_stride(&self) -> usize {
        self.capacity * self.head_dim
    }

    /// Stores the key and value rows (`kv_heads × head_dim`, head after head) of position `pos`
    /// in layer `l`.
    pub(crate) fn store(&mut self, l: usize, pos: usize, k: &[f32], v: &[f32]) {
        let (d, hs) = (self.head_dim, self.head_stride());
        for h in 0..self.kv_heads {
            let at = h * hs + pos * d;
            self.keys[l][at..at + d].copy_from_slice(&k[h * d..(h + 1) * d]);
            self.values[l][at..at + d].copy_from_slice(&v[h * d..(h + 1) * d]);
        }
    }

    /// Fills positions `from..to` of every layer with copies of positions `0..from`, cyclically.
    pub(crate) fn repeat_prefix(&mut self, from: usize, to: usize) {
        let (d, hs, heads) = (self.head_dim, self.head_stride(), self.kv_heads);
        for rows in self.keys.iter_mut().chain(self.values.iter_mut()) {
            for h in 0..heads {
                let head = &mut rows[h * hs..(h + 1) * hs];
                for p in from..to {
                    head.copy_within((p % from) * d..(p % from + 1) * d, p * d);
                }
            }
        }
    }

    /// Bytes one position occupies over all layers (keys and values, f32).
    pub(crate) fn bytes_per_position(&self) -> u64 {
        (self.keys.len() * 2 * self.kv_heads * self.head_dim * std::mem::size_of::<f32>()) as u64
    }

    /// Keys of layer `l`.
    pub(crate) fn keys(&self, l: usize) -> KvHeads<'_> {
        KvHeads::new(&self.keys[l], self.head_stride(), self.head_dim)
    }

    /// Values of layer `l`.
    pub(crate) fn values(&self, l: usize) -> KvHeads<'_> {
        KvHeads::new(&self.values[l], self.head_stride(), self.head_dim)
    }
}
