//! The token embedding (= lm_head) as the kernels read it: rows in a file format, F16 rows
//! packed losslessly ([`crate::format::packed_f16`]), or Q6_K rows regrouped
//! ([`crate::format::q6_k_regrouped`]). One value for the embedding lookup, the lm_head GEMV and
//! the byte count the roofline divides by.

use crate::format::embedding::EmbeddingFormat;
use crate::format::packed_f16::PackedF16;
use crate::format::q6_k_regrouped;

/// A borrowed view of the embedding rows.
#[derive(Debug, Clone, Copy)]
pub enum EmbeddingRows<'a> {
    /// Rows in `format` (as in the file, or BF16 converted to F16), `cols` weights each.
    Stored {
        format: EmbeddingFormat,
        cols: usize,
        bytes: &'a [u8],
    },
    /// F16 rows packed by `packed` into `data`.
    PackedF16 {
        packed: &'a PackedF16,
        data: &'a [u8],
    },
    /// Q6_K rows, `cols` weights each, every block's values regrouped.
    RegroupedQ6K { cols: usize, bytes: &'a [u8] },
}

impl EmbeddingRows<'_> {
    /// Rows held.
    pub fn rows(&self) -> usize {
        match self {
            Self::Stored {
                format,
                cols,
                bytes,
            } => bytes.len() / format.row_bytes(*cols),
            Self::PackedF16 { packed, .. } => packed.rows(),
            Self::RegroupedQ6K { cols, bytes } => {
                bytes.len() / EmbeddingFormat::Q6K.row_bytes(*cols)
            }
        }
    }

    /// Weights per row.
    pub fn cols(&self) -> usize {
        match self {
            Self::Stored { cols, .. } | Self::RegroupedQ6K { cols, .. } => *cols,
            Self::PackedF16 { packed, .. } => packed.cols(),
        }
    }

    /// The format the values are in: packed rows hold exact F16 values, regrouped rows Q6_K's.
    pub fn format(&self) -> EmbeddingFormat {
        match self {
            Self::Stored { format, .. } => *format,
            Self::PackedF16 { .. } => EmbeddingFormat::F16,
            Self::RegroupedQ6K { .. } => EmbeddingFormat::Q6K,
        }
    }

    /// Name in reports: the format's, `f16-packed6` / `f16-packed7` or `q6_k-regrouped`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Stored { format, .. } => format.name(),
            Self::PackedF16 { packed, .. } => packed.name(),
            Self::RegroupedQ6K { .. } => "q6_k-regrouped",
        }
    }

    /// Appends row `r`'s values to `out`.
    pub fn append_row(&self, r: usize, out: &mut Vec<f32>) {
        self.format().dequantize(&self.row_bytes_of(r), out);
    }

    /// Row `r` in `format()`'s bytes: as stored, the packed row's F16 values, or the regrouped
    /// row in the file's order.
    pub fn row_bytes_of(&self, r: usize) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Self::Stored {
                format,
                cols,
                bytes,
            } => {
                let n = format.row_bytes(*cols);
                std::borrow::Cow::Borrowed(&bytes[r * n..(r + 1) * n])
            }
            Self::PackedF16 { packed, data } => std::borrow::Cow::Owned(
                unpacked(packed, data, r)
                    .iter()
                    .flat_map(|h| h.to_le_bytes())
                    .collect(),
            ),
            Self::RegroupedQ6K { cols, bytes } => {
                let n = EmbeddingFormat::Q6K.row_bytes(*cols);
                let mut row = bytes[r * n..(r + 1) * n].to_vec();
                q6_k_regrouped::ungroup(&mut row);
                std::borrow::Cow::Owned(row)
            }
        }
    }

    /// Bytes one pass over every row reads (a decoded token's lm_head).
    pub fn streamed_bytes(&self) -> u64 {
        match self {
            Self::Stored { bytes, .. } | Self::RegroupedQ6K { bytes, .. } => bytes.len() as u64,
            Self::PackedF16 { packed, .. } => packed.streamed_bytes(),
        }
    }

    /// Bytes the lookup of one row reads.
    pub fn lookup_bytes(&self) -> u64 {
        match self {
            Self::Stored { format, cols, .. } => format.row_bytes(*cols) as u64,
            Self::PackedF16 { packed, .. } => packed.row_bytes() as u64,
            Self::RegroupedQ6K { cols, .. } => EmbeddingFormat::Q6K.row_bytes(*cols) as u64,
        }
    }
}

/// Row `r` of packed rows `data`, unpacked to its F16 values.
fn unpacked(packed: &PackedF16, data: &[u8], r: usize) -> Vec<half::f16> {
    let mut halves = Vec::with_capacity(packed.cols());
    packed.decode_row(data, r, &mut halves);
    halves
}
