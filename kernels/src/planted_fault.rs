//! Deliberately wrong kernels, built only with the `planted-faults` feature, so tests can show
//! that the tuner's cross-validation guard rejects every one. Each imitates a real kernel bug, and
//! the first one is faster than the correct kernel: a timing-only tuner would adopt it.

/// A bug planted into an [`crate::I2sGemm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlantedFault {
    /// Skips every other row task (leaves its outputs at zero): less work, so it times faster.
    SkipTasks,
    /// Off by one in the last row of matrices whose width is not a multiple of 128 (a tail bug
    /// that the model's 128-aligned shapes never show).
    RaggedTail,
    /// One accumulator bit flipped in the first row.
    BitFlip,
    /// f32 outputs scaled by 1 + 3e-5 (an epilogue reordering gone wrong; i32 still exact).
    EpilogueDrift,
}

impl PlantedFault {
    /// Every planted fault.
    pub const ALL: [PlantedFault; 4] = [
        PlantedFault::SkipTasks,
        PlantedFault::RaggedTail,
        PlantedFault::BitFlip,
        PlantedFault::EpilogueDrift,
    ];

    /// Whether the task covering `rows` is skipped entirely.
    pub(crate) fn skips(self, rows: &std::ops::Range<usize>, rows_per_task: usize) -> bool {
        self == PlantedFault::SkipTasks && !(rows.start / rows_per_task.max(1)).is_multiple_of(2)
    }

    /// Corrupts the Σ code·q of one task (`[row][token]`, rows `rows` of a `total_rows` x `cols`
    /// matrix).
    pub(crate) fn corrupt_codes(
        self,
        rows: &std::ops::Range<usize>,
        total_rows: usize,
        cols: usize,
        codes: &mut [i32],
    ) {
        match self {
            PlantedFault::RaggedTail if !cols.is_multiple_of(128) && rows.end == total_rows => {
                if let Some(last) = codes.last_mut() {
                    *last += 1;
                }
            }
            PlantedFault::BitFlip if rows.start == 0 => {
                if let Some(first) = codes.first_mut() {
                    *first ^= 1;
                }
            }
            _ => {}
        }
    }

    /// Corrupts f32 outputs.
    pub(crate) fn corrupt_outputs(self, out: &mut [f32]) {
        if self == PlantedFault::EpilogueDrift {
            for y in out {
                *y *= 1.0 + 3e-5;
            }
        }
    }
}
