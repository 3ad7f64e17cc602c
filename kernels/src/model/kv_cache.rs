//! Per-layer key/value cache, sized for the session's maximum sequence length only.

/// Keys and values of every layer for positions `0..len`.
#[derive(Debug)]
pub(crate) struct KvCache {
    kv_dim: usize,
    capacity: usize,
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
}

impl KvCache {
    /// A cache of `capacity` positions for `layers` layers of width `kv_dim`.
    pub(crate) fn new(layers: usize, kv_dim: usize, capacity: usize) -> Self {
        // In 2 MiB pages where the kernel grants them (advised while the zeroed buffers are
        // still untouched): attention reads one KV head's 256-byte row every `kv_dim` floats,
        // a new 4 KiB page every other row, and at 4k positions a layer's keys (10 MB) outgrow
        // the TLB's reach with small pages.
        let buffer = || {
            let b = vec![0.0; capacity * kv_dim];
            crate::cpu::huge_pages::advise_huge_pages(&b);
            b
        };
        Self {
            kv_dim,
            capacity,
            keys: (0..layers).map(|_| buffer()).collect(),
            values: (0..layers).map(|_| buffer()).collect(),
        }
    }

    /// Positions the cache holds.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Stores the key and value rows of position `pos` in layer `l`.
    pub(crate) fn store(&mut self, l: usize, pos: usize, k: &[f32], v: &[f32]) {
        let r = pos * self.kv_dim..(pos + 1) * self.kv_dim;
        self.keys[l][r.clone()].copy_from_slice(k);
        self.values[l][r].copy_from_slice(v);
    }

    /// Fills positions `from..to` of every layer with copies of positions `0..from`, cyclically.
    pub(crate) fn repeat_prefix(&mut self, from: usize, to: usize) {
        let d = self.kv_dim;
        for rows in self.keys.iter_mut().chain(self.values.iter_mut()) {
            for p in from..to {
                rows.copy_within((p % from) * d..(p % from + 1) * d, p * d);
            }
        }
    }

    /// Bytes one position occupies over all layers (keys and values, f32).
    pub(crate) fn bytes_per_position(&self) -> u64 {
        (self.keys.len() * 2 * self.kv_dim * std::mem::size_of::<f32>()) as u64
    }

    /// Keys of layer `l` for positions `0..n`.
    pub(crate) fn keys(&self, l: usize, n: usize) -> &[f32] {
        &self.keys[l][..n * self.kv_dim]
    }

    /// Values of layer `l` for positions `0..n`.
    pub(crate) fn values(&self, l: usize, n: usize) -> &[f32] {
        &self.values[l][..n * self.kv_dim]
    }
}
