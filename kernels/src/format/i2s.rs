//! I2_S: 2-bit ternary weights in bitnet.cpp's x86 layout, plus the row-aligned form the kernels read.
//!
//! File layout (flat over all `n = rows·cols` weights): codes 0,1,2 mean −1,0,+1; 128 weights per
//! 32-byte block; weight `j` of a block sits in byte `j % 32` at bit shift `6 − 2·(j / 32)`; one
//! f32 tensor scale at byte `n/4`; the tensor is padded to `n/4 + 32` bytes.
//!
//! Kernels read rows that start on a block boundary. When `cols % 128 == 0` the file layout already
//! is row-aligned and is used in place; otherwise each row is repacked and padded with zero weights.

use crate::error::KernelError;
use crate::format::ternary_layout::{
    lanes_code_position, TernaryLayout, LANE_LINE_BYTES, LANE_LINE_COLS, LANE_ROWS,
};
use crate::format::trits16;

/// Weights per I2_S block.
pub const BLOCK_WEIGHTS: usize = 128;
/// Bytes per I2_S block.
pub const BLOCK_BYTES: usize = 32;
/// Bytes after the packed codes: the f32 scale and its padding.
pub const TAIL_BYTES: usize = 32;
/// A byte holding four zero-weight codes (code 1); rows are padded with it.
const ZERO_BYTE: u8 = 0b0101_0101;

const FORMAT: &str = "I2_S";

/// The 81 byte values whose four 2-bit fields are each 0, 1 or 2 (valid I2_S codes), for
/// generating packed weights directly.
pub fn valid_code_bytes() -> Vec<u8> {
    (0u16..256)
        .map(|b| b as u8)
        .filter(|b| (0..4).all(|s| (b >> (2 * s)) & 3 != 3))
        .collect()
}

/// Byte index within a block and bit shift of weight `j` (0..128) of that block.
#[inline]
pub fn code_position(j: usize) -> (usize, u32) {
    (j % BLOCK_BYTES, (6 - 2 * (j / BLOCK_BYTES)) as u32)
}

/// Size in bytes of an I2_S tensor of `n` weights as stored in a GGUF file.
pub fn gguf_tensor_bytes(n: usize) -> Result<usize, KernelError> {
    if !n.is_multiple_of(BLOCK_WEIGHTS) {
        return Err(KernelError::BlockConstraint {
            format: FORMAT,
            what: "element count",
            value: n,
            multiple: BLOCK_WEIGHTS,
        });
    }
    Ok(n / 4 + TAIL_BYTES)
}

/// BitNet b1.58 absmean ternarisation: scale = mean|W| (accumulated in f64), t = clamp(round(w/scale)).
///
/// Returns the ternary values (−1, 0, +1) and the f32 scale. An all-zero input has scale 0.
pub fn ternarize_absmean(weights: &[f32]) -> (Vec<i8>, f32) {
    if weights.is_empty() {
        return (Vec::new(), 0.0);
    }
    let mean_abs = weights.iter().map(|w| f64::from(w.abs())).sum::<f64>() / weights.len() as f64;
    let scale = mean_abs as f32;
    if scale == 0.0 || !scale.is_finite() {
        return (vec![0; weights.len()], 0.0);
    }
    let ternary = weights
        .iter()
        .map(|&w| (w / scale).round_ties_even().clamp(-1.0, 1.0) as i8)
        .collect();
    (ternary, scale)
}

fn check_shape(rows: usize, cols: usize) -> Result<usize, KernelError> {
    if rows == 0 || cols == 0 {
        return Err(KernelError::InvalidShape {
            rows,
            cols,
            reason: "dimensions must be non-zero",
        });
    }
    rows.checked_mul(cols).ok_or(KernelError::InvalidShape {
        rows,
        cols,
        reason: "element count overflows",
    })
}

fn check_scale(scale: f32) -> Result<(), KernelError> {
    if scale.is_finite() && scale >= 0.0 {
        Ok(())
    } else {
        Err(KernelError::BadScale(scale))
    }
}

fn code_of(t: i8, index: usize) -> Result<u8, KernelError> {
    match t {
        -1 => Ok(0),
        0 => Ok(1),
        1 => Ok(2),
        _ => Err(KernelError::Shape(format!(
            "ternary value {t} at index {index} is not -1, 0 or +1"
        ))),
    }
}

/// Packs ternary values (flat, row-major) into the GGUF byte layout, scale and tail included.
pub fn pack_gguf(
    ternary: &[i8],
    rows: usize,
    cols: usize,
    scale: f32,
) -> Result<Vec<u8>, KernelError> {
    let n = check_shape(rows, cols)?;
    check_scale(scale)?;
    if ternary.len() != n {
        return Err(KernelError::Shape(format!(
            "{} ternary values for a {rows}x{cols} tensor",
            ternary.len()
        )));
    }
    let total = gguf_tensor_bytes(n)?;
    let mut out = vec![0u8; total];
    for (block, chunk) in ternary.chunks_exact(BLOCK_WEIGHTS).enumerate() {
        let base = block * BLOCK_BYTES;
        for (j, &t) in chunk.iter().enumerate() {
            let (byte, shift) = code_position(j);
            out[base + byte] |= code_of(t, block * BLOCK_WEIGHTS + j)? << shift;
        }
    }
    out[n / 4..n / 4 + 4].copy_from_slice(&scale.to_le_bytes());
    Ok(out)
}

/// Unpacks a GGUF I2_S tensor into flat ternary values and its scale, rejecting code 3.
pub fn unpack_gguf(bytes: &[u8], rows: usize, cols: usize) -> Result<(Vec<i8>, f32), KernelError> {
    let (n, scale) = checked_gguf_tensor(bytes, rows, cols)?;
    let mut ternary = Vec::with_capacity(n);
    for block in 0..n / BLOCK_WEIGHTS {
        for j in 0..BLOCK_WEIGHTS {
            let (byte, shift) = code_position(j);
            let code = (bytes[block * BLOCK_BYTES + byte] >> shift) & 3;
            if code == 3 {
                return Err(KernelError::InvalidCode {
                    index: block * BLOCK_WEIGHTS + j,
                });
            }
            ternary.push(code as i8 - 1);
        }
    }
    Ok((ternary, scale))
}

/// An error unless the `actual` bytes of a `rows`×`cols` matrix are the `expected` count.
fn check_byte_length(
    actual: usize,
    expected: usize,
    rows: usize,
    cols: usize,
) -> Result<(), KernelError> {
    if actual == expected {
        return Ok(());
    }
    Err(KernelError::ByteLength {
        format: FORMAT,
        rows,
        cols,
        expected,
        actual,
    })
}

/// The weight count and scale of a GGUF I2_S tensor of `rows`×`cols`, after checking the shape,
/// the byte length and the scale (the codes are not checked here).
fn checked_gguf_tensor(
    bytes: &[u8],
    rows: usize,
    cols: usize,
) -> Result<(usize, f32), KernelError> {
    let n = check_shape(rows, cols)?;
    check_byte_length(bytes.len(), gguf_tensor_bytes(n)?, rows, cols)?;
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&bytes[n / 4..n / 4 + 4]);
    let scale = f32::from_le_bytes(raw);
    check_scale(scale)?;
    Ok((n, scale))
}

/// Columns of a row once padded to whole blocks.
#[inline]
pub fn padded_cols(cols: usize) -> usize {
    cols.div_ceil(BLOCK_WEIGHTS) * BLOCK_WEIGHTS
}

/// A borrowed row-aligned I2_S matrix: what every kernel reads, in either [`TernaryLayout`].
#[derive(Debug, Clone, Copy)]
pub struct I2sMatrixRef<'a> {
    rows: usize,
    cols: usize,
    data: &'a [u8],
    scale: f32,
    layout: TernaryLayout,
}

impl<'a> I2sMatrixRef<'a> {
    /// Borrows a GGUF I2_S tensor in place; needs `cols % 128 == 0` (true of every BitNet layer).
    pub fn from_gguf_bytes(bytes: &'a [u8], rows: usize, cols: usize) -> Result<Self, KernelError> {
        check_shape(rows, cols)?;
        if !cols.is_multiple_of(BLOCK_WEIGHTS) {
            return Err(KernelError::BlockConstraint {
                format: FORMAT,
                what: "columns of a borrowed tensor (use I2sMatrix::from_gguf_bytes to repack)",
                value: cols,
                multiple: BLOCK_WEIGHTS,
            });
        }
        let (n, scale) = checked_gguf_tensor(bytes, rows, cols)?;
        Ok(Self {
            rows,
            cols,
            data: &bytes[..n / 4],
            scale,
            layout: TernaryLayout::RowMajor,
        })
    }

    /// Borrows row-aligned packed bytes (`rows` rows of `padded_cols(cols) / 4` bytes, as
    /// [`Self::data`] holds them), checking the length and the scale in O(1); the codes are the
    /// caller's to have validated (e.g. copies of a validated matrix).
    pub fn from_row_aligned(
        data: &'a [u8],
        rows: usize,
        cols: usize,
        scale: f32,
    ) -> Result<Self, KernelError> {
        Self::from_aligned_in(data, rows, cols, scale, TernaryLayout::RowMajor)
    }

    /// Like [`Self::from_row_aligned`], for bytes in `layout` (which must fit `rows`).
    pub fn from_aligned_in(
        data: &'a [u8],
        rows: usize,
        cols: usize,
        scale: f32,
        layout: TernaryLayout,
    ) -> Result<Self, KernelError> {
        check_shape(rows, cols)?;
        if !layout.fits(rows) {
            return Err(KernelError::InvalidShape {
                rows,
                cols,
                reason: "the lanes16 and trits16 layouts need a multiple of 16 rows",
            });
        }
        check_scale(scale)?;
        check_byte_length(
            data.len(),
            rows * layout.row_bytes(padded_cols(cols)),
            rows,
            cols,
        )?;
        Ok(Self {
            rows,
            cols,
            data,
            scale,
            layout,
        })
    }

    /// Rebuilds a view from parts that were validated before (the model keeps offsets, not views).
    pub(crate) fn from_validated_parts(
        data: &'a [u8],
        rows: usize,
        cols: usize,
        scale: f32,
        layout: TernaryLayout,
    ) -> Self {
        Self {
            rows,
            cols,
            data,
            scale,
            layout,
        }
    }

    /// Output rows (M).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Logical input columns (K).
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Columns per row including zero padding to a whole block.
    pub fn padded_cols(&self) -> usize {
        padded_cols(self.cols)
    }
    /// Packed bytes per row in this matrix's layout (a row-major row: `padded_cols / 4`).
    pub fn row_bytes(&self) -> usize {
        self.layout.row_bytes(self.padded_cols())
    }
    /// Tensor scale (multiplies every ternary weight).
    pub fn scale(&self) -> f32 {
        self.scale
    }
    /// All packed rows, `rows · row_bytes` bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
    /// Order of the packed codes.
    pub fn layout(&self) -> TernaryLayout {
        self.layout
    }
    /// Packed bytes of one row (row-major layout; in lanes16 this is a slice of a lane group,
    /// not a row, so the row-major kernels are never handed one).
    pub fn row(&self, r: usize) -> &'a [u8] {
        debug_assert_eq!(self.layout, TernaryLayout::RowMajor);
        let rb = self.row_bytes();
        &self.data[r * rb..(r + 1) * rb]
    }
    /// Bytes of weights the kernels stream per full pass (codes only).
    pub fn weight_bytes(&self) -> usize {
        self.data.len()
    }
    /// The code (0, 1, 2) of weight `(r, j)`, in any layout.
    #[inline]
    pub fn code(&self, r: usize, j: usize) -> u8 {
        match self.layout {
            TernaryLayout::RowMajor => {
                let (byte, shift) = code_position(j % BLOCK_WEIGHTS);
                (self.row(r)[(j / BLOCK_WEIGHTS) * BLOCK_BYTES + byte] >> shift) & 3
            }
            TernaryLayout::Lanes16 => {
                let (byte, shift) = lanes_code_position(self.row_bytes(), r, j);
                (self.data[byte] >> shift) & 3
            }
            TernaryLayout::Trits16 => {
                let (byte, k) = trits16::code_position(trits16::lines(self.padded_cols()), r, j);
                trits16::digit(self.data[byte], k)
            }
        }
    }
    /// Row-aligned flat index (row · padded_cols + column) of the code at bit shift 2·`slot` of
    /// data byte `i` (a 2-bit layout).
    fn flat_index(&self, i: usize, slot: usize) -> usize {
        match self.layout {
            TernaryLayout::RowMajor => {
                (i / BLOCK_BYTES) * BLOCK_WEIGHTS + (3 - slot) * BLOCK_BYTES + i % BLOCK_BYTES
            }
            TernaryLayout::Lanes16 => {
                let group_bytes = LANE_ROWS * self.row_bytes();
                let within = i % group_bytes;
                let row = (i / group_bytes) * LANE_ROWS + (within % LANE_LINE_BYTES) / 4;
                let col = (within / LANE_LINE_BYTES) * LANE_LINE_COLS + 4 * (3 - slot) + within % 4;
                row * self.padded_cols() + col
            }
            TernaryLayout::Trits16 => unreachable!("trits16 bytes hold no 2-bit codes"),
        }
    }

    /// Checks that no packed code is 3; kernels would read it as weight +2. Every trits16 byte
    /// reads as five codes 0..=2 (`format::trits16`), so there is nothing to check there.
    pub fn validate_codes(&self) -> Result<(), KernelError> {
        if self.layout == TernaryLayout::Trits16 {
            return Ok(());
        }
        // A code of 3 has both bits of its pair set. Each chunk is checked without a branch per
        // byte (the fold vectorises; a byte loop that returned at the first bad code made this
        // a fifth of loading 2B-4T), and only a chunk with a bad code is searched for its index.
        const CHUNK: usize = 4096;
        let bad_pairs = |b: u8| b & (b >> 1) & ZERO_BYTE;
        for (c, chunk) in self.data.chunks(CHUNK).enumerate() {
            if chunk.iter().fold(0, |acc, &b| acc | bad_pairs(b)) == 0 {
                continue;
            }
            if let Some((j, pairs)) = chunk
                .iter()
                .map(|&b| bad_pairs(b))
                .enumerate()
                .find(|&(_, p)| p != 0)
            {
                let slot = (0..4).find(|s| pairs & (1 << (2 * s)) != 0).unwrap_or(0);
                return Err(KernelError::InvalidCode {
                    index: self.flat_index(c * CHUNK + j, slot),
                });
            }
        }
        Ok(())
    }
}

/// An owned row-aligned I2_S matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct I2sMatrix {
    rows: usize,
    cols: usize,
    data: Vec<u8>,
    scale: f32,
    layout: TernaryLayout,
}

impl I2sMatrix {
    /// Builds a matrix from flat row-major ternary values (−1, 0, +1).
    pub fn from_ternary(
        ternary: &[i8],
        rows: usize,
        cols: usize,
        scale: f32,
    ) -> Result<Self, KernelError> {
        let n = check_shape(rows, cols)?;
        check_scale(scale)?;
        if ternary.len() != n {
            return Err(KernelError::Shape(format!(
                "{} ternary values for a {rows}x{cols} tensor",
                ternary.len()
            )));
        }
        let row_bytes = padded_cols(cols) / 4;
        let mut data = vec![ZERO_BYTE; rows * row_bytes];
        for (r, row) in ternary.chunks_exact(cols).enumerate() {
            let out = &mut data[r * row_bytes..(r + 1) * row_bytes];
            for (j, &t) in row.iter().enumerate() {
                let (byte, shift) = code_position(j % BLOCK_WEIGHTS);
                let slot = &mut out[(j / BLOCK_WEIGHTS) * BLOCK_BYTES + byte];
                *slot = (*slot & !(3 << shift)) | (code_of(t, r * cols + j)? << shift);
            }
        }
        Ok(Self {
            rows,
            cols,
            data,
            scale,
            layout: TernaryLayout::RowMajor,
        })
    }

    /// Quantises float weights with [`ternarize_absmean`] and packs them.
    pub fn quantize(weights: &[f32], rows: usize, cols: usize) -> Result<Self, KernelError> {
        let (ternary, scale) = ternarize_absmean(weights);
        Self::from_ternary(&ternary, rows, cols, scale)
    }

    /// Reads a GGUF I2_S tensor, repacking rows when `cols` is not a multiple of 128.
    pub fn from_gguf_bytes(bytes: &[u8], rows: usize, cols: usize) -> Result<Self, KernelError> {
        if cols.is_multiple_of(BLOCK_WEIGHTS) {
            let view = I2sMatrixRef::from_gguf_bytes(bytes, rows, cols)?;
            view.validate_codes()?;
            return Ok(Self {
                rows,
                cols,
                data: view.data.to_vec(),
                scale: view.scale,
                layout: TernaryLayout::RowMajor,
            });
        }
        let (ternary, scale) = unpack_gguf(bytes, rows, cols)?;
        Self::from_ternary(&ternary, rows, cols, scale)
    }

    /// Wraps already row-aligned packed bytes (e.g. random codes for benchmarks).
    pub fn from_row_aligned(
        data: Vec<u8>,
        rows: usize,
        cols: usize,
        scale: f32,
    ) -> Result<Self, KernelError> {
        Self::from_aligned_in(data, rows, cols, scale, TernaryLayout::RowMajor)
    }

    /// Like [`Self::from_row_aligned`], for bytes in `layout`.
    pub fn from_aligned_in(
        data: Vec<u8>,
        rows: usize,
        cols: usize,
        scale: f32,
        layout: TernaryLayout,
    ) -> Result<Self, KernelError> {
        I2sMatrixRef::from_aligned_in(&data, rows, cols, scale, layout)?.validate_codes()?;
        Ok(Self {
            rows,
            cols,
            data,
            scale,
            layout,
        })
    }

    /// Flat row-major ternary values (padding excluded).
    pub fn to_ternary(&self) -> Vec<i8> {
        let v = self.view();
        let mut out = Vec::with_capacity(self.rows * self.cols);
        for r in 0..self.rows {
            out.extend((0..self.cols).map(|j| v.code(r, j) as i8 - 1));
        }
        out
    }

    /// Serialises to the GGUF byte layout (flat blocks, scale at n/4, 32-byte tail).
    pub fn to_gguf_bytes(&self) -> Result<Vec<u8>, KernelError> {
        if self.cols.is_multiple_of(BLOCK_WEIGHTS) && self.layout == TernaryLayout::RowMajor {
            let mut out = self.data.clone();
            out.extend_from_slice(&self.scale.to_le_bytes());
            out.resize(self.data.len() + TAIL_BYTES, 0);
            return Ok(out);
        }
        pack_gguf(&self.to_ternary(), self.rows, self.cols, self.scale)
    }

    /// Borrows the matrix for the kernels.
    pub fn view(&self) -> I2sMatrixRef<'_> {
        I2sMatrixRef {
            rows: self.rows,
            cols: self.cols,
            data: &self.data,
            scale: self.scale,
            layout: self.layout,
        }
    }

    /// Order of the packed codes.
    pub fn layout(&self) -> TernaryLayout {
        self.layout
    }

    /// Flips one bit of the packed codes (tests use it to prove kernels read every bit).
    pub fn flip_bit(&mut self, byte: usize, bit: u32) {
        self.data[byte] ^= 1 << bit;
    }
}
