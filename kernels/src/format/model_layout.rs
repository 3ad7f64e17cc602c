//! How a loaded model keeps its weights for the kernels: the ternary projections' layout and the
//! lm_head's (as stored, or repacked losslessly where the CPU has a kernel for it).

use std::fmt;

use crate::format::ternary_layout::TernaryLayout;

/// The lm_head's (= token embedding's) layout in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LmHeadLayout {
    /// As in the file (F16, Q8_0, Q6_K; BF16 converted to F16).
    #[default]
    AsStored,
    /// F16 rows packed into 14 or 15 bits per weight (`format::packed_f16`), Q6_K blocks with
    /// their values regrouped by sub-block (`format::q6_k_regrouped`, the same bytes); other
    /// formats and shapes that do not pack stay as stored.
    Packed,
}

impl LmHeadLayout {
    /// Every layout, in the order the CLI lists them.
    pub const ALL: [LmHeadLayout; 2] = [Self::AsStored, Self::Packed];

    /// Stable name (reports, the command line).
    pub fn name(self) -> &'static str {
        match self {
            Self::AsStored => "as-stored",
            Self::Packed => "packed",
        }
    }
}

impl fmt::Display for LmHeadLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Both layouts a model is loaded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ModelLayout {
    /// The ternary projections'.
    pub ternary: TernaryLayout,
    /// The lm_head's.
    pub lm_head: LmHeadLayout,
}

impl ModelLayout {
    /// The file's own order for both: what a model loads in before any reordering.
    pub const AS_STORED: ModelLayout = ModelLayout {
        ternary: TernaryLayout::RowMajor,
        lm_head: LmHeadLayout::AsStored,
    };

    /// `ternary` for the projections, the lm_head as stored.
    pub fn ternary(ternary: TernaryLayout) -> Self {
        ModelLayout {
            ternary,
            lm_head: LmHeadLayout::AsStored,
        }
    }
}

impl fmt::Display for ModelLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, lm_head {}", self.ternary, self.lm_head)
    }
}
