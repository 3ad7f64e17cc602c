//! F16 rows packed losslessly into 14 or 15 bits per weight: the lm_head's in-memory layout on
//! CPUs with AVX-512 VBMI, decoded back to the exact F16 values in registers.
//!
//! Why: decode streams the whole embedding once per token, 60 % of a 2B-4T token's bytes at
//! F16, and it is memory-bound; fewer bytes are the only way to a faster lm_head without
//! changing a single logit's inputs. Trained (and synthetic) embeddings use few of the 256
//! possible high bytes of an F16 (sign, 5 exponent bits, 2 mantissa bits): their exponents
//! span a narrow range. The low byte (8 mantissa bits) is kept as it is; the high byte becomes
//! a K-bit code (K = 6 or 7) into a per-tensor table of the 2^K most frequent high bytes.
//!
//! **Layout.** A row is `cols / 64` blocks of `8·K + 64` bytes: first the 64 codes, eight per
//! 64-bit word at bit offsets `0, K, …, 7K` in `K` little-endian bytes per word; then the 64
//! low bytes. Codes and low bytes are in slot order: slot `16·L + 8·s + j` (L < 4, s < 2,
//! j < 8) holds column `32·s + 8·L + j` of the block ([`column_of_slot`]), the order in which
//! `vpunpcklbw`/`vpunpckhbw` of the low and high bytes, which interleave within 128-bit lanes,
//! give the F16 values of columns 0..32 and 32..64 in column order. Code 0 always stands for
//! the high byte 0x00 (±0's positive half and the smallest subnormals).
//!
//! **Exceptions.** A weight whose high byte is not in the table is stored as code 0 with low
//! byte 0, which decodes to +0.0, and listed per row as (column, value); kernels add
//! `value · x[column]` after the row's dot product. The table and K are chosen per tensor to
//! minimise the bytes streamed, exceptions included ([`choose_table`]).
//!
//! Measured (probe on the Zen 5 VM, 2 threads, a 128256×2560 matrix of F16-rounded uniform
//! values, alternating with a read pass): K = 7 streamed 1.06–1.07× and K = 6 1.14–1.15× as fast
//! as the F16 kernel at 30–70 GB/s, the byte ratios (16/15, 16/14): the decode keeps up with
//! memory.

use half::f16;

pub use crate::format::packed_f16_exceptions::Exceptions;
use crate::format::packed_f16_exceptions::{SLOT_BYTES, TILE_ROWS};

/// Weights per block.
pub const BLOCK: usize = 64;
/// The widest code: a table holds at most this many high bytes.
pub const MAX_TABLE: usize = 128;
/// Code widths a table may have.
pub const CODE_BITS: [u32; 2] = [6, 7];
/// Marks a high byte without a code.
const NO_CODE: u8 = u8::MAX;

/// The column within its block of the weight in slot `slot` (see the layout above).
pub const fn column_of_slot(slot: usize) -> usize {
    let (lane, half, j) = (slot / 16, slot / 8 % 2, slot % 8);
    32 * half + 8 * lane + j
}

/// Why a matrix cannot be packed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    /// Rows must hold whole blocks.
    #[error("{cols} columns are not a multiple of {BLOCK}")]
    Columns { cols: usize },
    /// Exception columns are 16-bit.
    #[error("{cols} columns exceed 65536, the most an exception's 16-bit column can name")]
    TooWide { cols: usize },
    /// The buffer does not hold the rows.
    #[error("{have} bytes hold fewer than {rows} rows of {cols} F16 values")]
    Short {
        have: usize,
        rows: usize,
        cols: usize,
    },
}

/// The code table: high byte of each code, and the code of each high byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeTable {
    code_bits: u32,
    highs: [u8; MAX_TABLE],
    codes: [u8; 256],
}

impl CodeTable {
    /// A table of `code_bits` bits holding 0x00 as code 0, then `highs` in order (the first
    /// `2^code_bits − 1` high bytes other than 0x00; duplicates are skipped).
    pub fn new(code_bits: u32, highs: impl IntoIterator<Item = u8>) -> Self {
        assert!(CODE_BITS.contains(&code_bits), "code width {code_bits}");
        let mut t = CodeTable {
            code_bits,
            highs: [0; MAX_TABLE],
            codes: [NO_CODE; 256],
        };
        t.codes[0] = 0;
        let mut next = 1usize;
        for h in highs {
            if next == 1 << code_bits {
                break;
            }
            if t.codes[h as usize] == NO_CODE {
                t.codes[h as usize] = next as u8;
                t.highs[next] = h;
                next += 1;
            }
        }
        t
    }

    /// Bits per code (6 or 7).
    pub fn code_bits(&self) -> u32 {
        self.code_bits
    }

    /// The high byte of every code (entries past `2^code_bits` are 0): what the kernels'
    /// byte permutes look up.
    pub fn highs(&self) -> &[u8; MAX_TABLE] {
        &self.highs
    }

    /// The code of high byte `h`, if the table holds it.
    pub fn code(&self, h: u8) -> Option<u8> {
        let c = self.codes[h as usize];
        (c != NO_CODE).then_some(c)
    }

    /// Bytes of one block.
    pub fn block_bytes(&self) -> usize {
        8 * self.code_bits as usize + BLOCK
    }

    /// Bytes of one packed row of `cols` weights.
    pub fn row_bytes(&self, cols: usize) -> usize {
        cols / BLOCK * self.block_bytes()
    }
}

/// Counts of each high byte over a tensor's F16 values (little-endian bytes), in parallel.
pub fn high_byte_counts(f16_bytes: &[u8]) -> [u64; 256] {
    use rayon::prelude::*;
    // Even-sized chunks keep each value's two bytes together.
    f16_bytes
        .par_chunks(1 << 20)
        .map(|chunk| {
            let mut h = [0u64; 256];
            for pair in chunk.chunks_exact(2) {
                h[pair[1] as usize] += 1;
            }
            h
        })
        .reduce(
            || [0u64; 256],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        )
}

/// The table that streams the fewest bytes for values with these high-byte counts: for each
/// width, the most frequent high bytes (ties to the smaller byte, so a tensor always gets the
/// same table), the rest exceptions. Returns the table and the bytes a GEMV would read.
pub fn choose_table(counts: &[u64; 256], rows: usize, cols: usize) -> (CodeTable, u64) {
    let mut order: Vec<u8> = (0..=255).collect();
    order.sort_by_key(|&h| (std::cmp::Reverse(counts[h as usize]), h));
    CODE_BITS
        .iter()
        .map(|&k| {
            let table = CodeTable::new(k, order.iter().copied());
            let covered: u64 = (0..256)
                .filter(|&h| table.code(h as u8).is_some())
                .map(|h| counts[h])
                .sum();
            let exceptions = counts.iter().sum::<u64>() - covered;
            let bytes = estimated_bytes(&table, rows, cols, exceptions);
            (table, bytes)
        })
        .min_by_key(|&(_, bytes)| bytes)
        .expect("CODE_BITS is not empty")
}

/// Bytes a GEMV over the packed matrix would read: the rows and, for the exceptions, twice
/// their slots' bytes if spread evenly (a tile's slots are as many as its fullest row needs;
/// 2b4t's tiles come to 1.6 times the average, and adding them costs compute too).
fn estimated_bytes(table: &CodeTable, rows: usize, cols: usize, exceptions: u64) -> u64 {
    let tiles = rows.div_ceil(TILE_ROWS) as u64;
    (rows * table.row_bytes(cols)) as u64
        + 4 * (tiles + 1)
        + 2 * exceptions.div_ceil(TILE_ROWS as u64) * SLOT_BYTES
}

/// What describes a packed matrix besides its row bytes: shape, table and exceptions.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedF16 {
    rows: usize,
    cols: usize,
    table: CodeTable,
    exceptions: Exceptions,
}

impl PackedF16 {
    /// Checks that `rows × cols` F16 values (in `have` bytes) can be packed.
    pub fn check(rows: usize, cols: usize, have: usize) -> Result<(), PackError> {
        if !cols.is_multiple_of(BLOCK) || cols == 0 {
            return Err(PackError::Columns { cols });
        }
        if cols > 1 << 16 {
            return Err(PackError::TooWide { cols });
        }
        if have < 2 * rows * cols {
            return Err(PackError::Short { have, rows, cols });
        }
        Ok(())
    }

    /// Packs `rows × cols` F16 values (`f16_bytes`, little-endian) with `table` into `dst`
    /// (`rows · table.row_bytes(cols)` bytes).
    pub fn pack(
        table: CodeTable,
        f16_bytes: &[u8],
        rows: usize,
        cols: usize,
        dst: &mut [u8],
    ) -> Result<Self, PackError> {
        Self::check(rows, cols, f16_bytes.len())?;
        let row_bytes = table.row_bytes(cols);
        let mut exceptions = Exceptions::default();
        let (src, dst) = (&f16_bytes[..2 * cols * rows], &mut dst[..rows * row_bytes]);
        pack_rows(&table, src, dst, cols, &mut exceptions);
        Ok(Self::with(table, rows, cols, exceptions))
    }

    /// Packs `rows × cols` F16 values in place: `buf` starts with them and ends up starting with
    /// the packed rows. Rows are packed a chunk at a time through a staging buffer; a chunk's
    /// packed bytes end before the next chunk's F16 values start, as packed rows are shorter.
    pub fn pack_in_place(
        table: CodeTable,
        buf: &mut [u8],
        rows: usize,
        cols: usize,
    ) -> Result<Self, PackError> {
        Self::check(rows, cols, buf.len())?;
        const CHUNK_ROWS: usize = 1024;
        let row_bytes = table.row_bytes(cols);
        let mut exceptions = Exceptions::default();
        let mut staged = vec![0u8; CHUNK_ROWS * row_bytes];
        for r0 in (0..rows).step_by(CHUNK_ROWS) {
            let n = CHUNK_ROWS.min(rows - r0);
            let src = &buf[2 * cols * r0..2 * cols * (r0 + n)];
            pack_rows(
                &table,
                src,
                &mut staged[..n * row_bytes],
                cols,
                &mut exceptions,
            );
            buf[r0 * row_bytes..(r0 + n) * row_bytes].copy_from_slice(&staged[..n * row_bytes]);
        }
        Ok(Self::with(table, rows, cols, exceptions))
    }

    /// The description of rows packed with `table`, once every row's exceptions are in.
    fn with(table: CodeTable, rows: usize, cols: usize, mut exceptions: Exceptions) -> Self {
        exceptions.finish();
        PackedF16 {
            rows,
            cols,
            table,
            exceptions,
        }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Weights per row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The code table.
    pub fn table(&self) -> &CodeTable {
        &self.table
    }

    /// The weights the table does not hold.
    pub fn exceptions(&self) -> &Exceptions {
        &self.exceptions
    }

    /// Bytes of one packed row.
    pub fn row_bytes(&self) -> usize {
        self.table.row_bytes(self.cols)
    }

    /// Bytes of all packed rows.
    pub fn data_bytes(&self) -> usize {
        self.rows * self.row_bytes()
    }

    /// Bytes a GEMV reads: rows and exceptions.
    pub fn streamed_bytes(&self) -> u64 {
        self.data_bytes() as u64 + self.exceptions.streamed_bytes()
    }

    /// Name in reports: `f16-packed6` or `f16-packed7`.
    pub fn name(&self) -> &'static str {
        match self.table.code_bits {
            6 => "f16-packed6",
            _ => "f16-packed7",
        }
    }

    /// The F16 values of row `r` of `data` (the packed rows), exceptions included.
    pub fn decode_row(&self, data: &[u8], r: usize, out: &mut Vec<f16>) {
        let row_bytes = self.row_bytes();
        let row = &data[r * row_bytes..(r + 1) * row_bytes];
        let start = out.len();
        let k = self.table.code_bits as usize;
        let mask = (1u64 << k) - 1;
        for block in row.chunks_exact(self.table.block_bytes()) {
            let (codes, lows) = block.split_at(8 * k);
            let first = out.len();
            out.resize(first + BLOCK, f16::ZERO);
            // One 64-bit word per eight codes, as the kernel's `vpmultishiftqb` reads them.
            for (word, (code_bytes, lows)) in
                codes.chunks_exact(k).zip(lows.chunks_exact(8)).enumerate()
            {
                let mut bytes = [0u8; 8];
                bytes[..k].copy_from_slice(code_bytes);
                let w = u64::from_le_bytes(bytes);
                for (field, &low) in lows.iter().enumerate() {
                    let high = self.table.highs[((w >> (field * k)) & mask) as usize];
                    out[first + column_of_slot(8 * word + field)] =
                        f16::from_bits(u16::from_le_bytes([low, high]));
                }
            }
        }
        for (c, bits) in self.exceptions.of_row(r) {
            out[start + c] = f16::from_bits(bits);
        }
    }
}

/// Packs rows of F16 values (`src`, `cols` each) into `dst`, rows in parallel (a 2b4t lm_head
/// took 0.34 s on one thread of the Zen 5 VM), and adds their exceptions in row order.
fn pack_rows(
    table: &CodeTable,
    src: &[u8],
    dst: &mut [u8],
    cols: usize,
    exceptions: &mut Exceptions,
) {
    use rayon::prelude::*;
    let rows: Vec<_> = src
        .par_chunks_exact(2 * cols)
        .zip(dst.par_chunks_exact_mut(table.row_bytes(cols)))
        .map(|(row, out)| pack_row(table, row, out))
        .collect();
    rows.into_iter().for_each(|row| exceptions.push_row(row));
}

/// Packs one row of F16 values (little-endian) into `out`; returns its exceptions (column, F16
/// bits).
fn pack_row(table: &CodeTable, src: &[u8], out: &mut [u8]) -> Vec<(u16, u16)> {
    let k = table.code_bits as usize;
    let mut exceptions = Vec::new();
    for (b, (vals, block)) in src
        .chunks_exact(2 * BLOCK)
        .zip(out.chunks_exact_mut(table.block_bytes()))
        .enumerate()
    {
        let (codes, lows) = block.split_at_mut(8 * k);
        for (word, code_bytes) in codes.chunks_exact_mut(k).enumerate() {
            let mut w = 0u64;
            for field in 0..8 {
                let i = 8 * word + field;
                let column = column_of_slot(i);
                let v = &vals[2 * column..2 * column + 2];
                let (code, low) = match table.code(v[1]) {
                    Some(c) => (c, v[0]),
                    None => {
                        let col = (b * BLOCK + column) as u16;
                        exceptions.push((col, u16::from_le_bytes([v[0], v[1]])));
                        (0, 0)
                    }
                };
                w |= u64::from(code) << (field * k);
                lows[i] = low;
            }
            code_bytes.copy_from_slice(&w.to_le_bytes()[..k]);
        }
    }
    // Slots visit a block's columns out of order; the exception lists are by column.
    exceptions.sort_unstable_by_key(|&(col, _)| col);
    exceptions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bytes(values: &[u16]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn decoded(p: &PackedF16, data: &[u8]) -> Vec<u16> {
        let mut out = Vec::new();
        for r in 0..p.rows() {
            p.decode_row(data, r, &mut out);
        }
        out.iter().map(|v| v.to_bits()).collect()
    }

    /// Slots name every column of a block once, and `vpunpcklbw`/`vpunpckhbw` (within each
    /// 128-bit lane, bytes 0..8 / 8..16 of both operands interleaved) of slot-ordered bytes
    /// give the columns in order: output word `w` of the low (high) unpack is column `w`
    /// (`32 + w`).
    #[test]
    fn slots_are_a_permutation_that_the_unpacks_put_in_column_order() {
        let mut seen = [false; BLOCK];
        for slot in 0..BLOCK {
            assert!(!std::mem::replace(&mut seen[column_of_slot(slot)], true));
        }
        for half in 0..2 {
            for w in 0..32 {
                let (lane, j) = (w / 8, w % 8);
                let slot = 16 * lane + 8 * half + j;
                assert_eq!(column_of_slot(slot), 32 * half + w);
            }
        }
    }

    /// Every one of the 65536 F16 bit patterns (NaNs, infinities, subnormals, both zeros)
    /// comes back bit for bit, at both widths, most of them as exceptions.
    #[test]
    fn every_f16_bit_pattern_round_trips_at_both_widths() {
        let cols = 256;
        let values: Vec<u16> = (0..=u16::MAX).collect();
        let bytes = f16_bytes(&values);
        let rows = values.len() / cols;
        for k in CODE_BITS {
            let table = CodeTable::new(k, (0..=255u8).rev());
            let mut data = vec![0u8; rows * table.row_bytes(cols)];
            let p = PackedF16::pack(table, &bytes, rows, cols, &mut data).unwrap();
            assert_eq!(decoded(&p, &data), values, "K={k}");
            let held = (1usize << k) * 256;
            assert_eq!(p.exceptions().len(), values.len() - held, "K={k}");
        }
    }

    /// Packing in place gives the bytes and exceptions of packing into another buffer, over
    /// more rows than one staging chunk holds.
    #[test]
    fn packing_in_place_equals_packing_into_a_copy() {
        let (rows, cols) = (700, 192);
        let mut s = 7u64;
        let values: Vec<u16> = (0..rows * cols)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                let u = (s >> 40) as f32 / (1u64 << 24) as f32;
                f16::from_f32((2.0 * u - 1.0) * 0.1).to_bits()
            })
            .collect();
        let bytes = f16_bytes(&values);
        let (table, _) = choose_table(&high_byte_counts(&bytes), rows, cols);
        let mut copy = vec![0u8; rows * table.row_bytes(cols)];
        let a = PackedF16::pack(table.clone(), &bytes, rows, cols, &mut copy).unwrap();
        let mut buf = bytes.clone();
        let b = PackedF16::pack_in_place(table, &mut buf, rows, cols).unwrap();
        assert_eq!(a, b);
        assert_eq!(&buf[..copy.len()], &copy[..]);
        assert_eq!(decoded(&b, &buf), values);
    }

    /// The table choice counts exceptions: values spread over 16 exponents take 7 bits, values
    /// of uniform magnitude (most in the top exponents) 6 bits with a few exceptions.
    #[test]
    fn the_table_width_follows_the_value_spread() {
        let (rows, cols) = (64, 256);
        let mut counts = [0u64; 256];
        // 128 high bytes equally often: a 6-bit table would leave half as exceptions.
        counts[..128].fill((rows * cols / 128) as u64);
        let (t, bytes) = choose_table(&counts, rows, cols);
        assert_eq!(t.code_bits(), 7);
        assert_eq!(bytes, (rows * cols * 15 / 8 + 4 * (rows / 16 + 1)) as u64);
        // 63 frequent high bytes and one rare one: 6 bits, the rare ones exceptions.
        let mut counts = [0u64; 256];
        counts[1..64].fill(1000);
        counts[200] = 3;
        let (t, bytes) = choose_table(&counts, 1, 64 * 1000);
        assert_eq!(t.code_bits(), 6);
        assert_eq!(t.code(200), None);
        assert_eq!(bytes, 64_000 * 14 / 8 + 8 + 2 * SLOT_BYTES);
    }

    #[test]
    fn unpackable_shapes_are_refused() {
        assert_eq!(
            PackedF16::check(2, 100, 400),
            Err(PackError::Columns { cols: 100 })
        );
        assert_eq!(
            PackedF16::check(1, 1 << 17, 1 << 18),
            Err(PackError::TooWide { cols: 1 << 17 })
        );
        assert_eq!(
            PackedF16::check(4, 64, 100),
            Err(PackError::Short {
                have: 100,
                rows: 4,
                cols: 64
            })
        );
    }
}
