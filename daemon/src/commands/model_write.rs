//! `perfd model write`: a synthetic BitNet b1.58 GGUF for a named shape preset.

use std::time::Instant;

use anyhow::{Context, Result};

use bitnet_kernels::format::embedding::EmbeddingFormat;
use bitnet_kernels::format::ternary::TernaryFormat;
use bitnet_kernels::model::synthetic_model::{write_preset_with, FileFormats};
use bitnet_kernels::model::{Architecture, Preset};

use crate::cli::ModelWriteArgs;
use crate::UsageError;

/// Writes the file and returns the line to print.
pub fn run(args: &ModelWriteArgs) -> Result<String> {
    let preset: Preset = args
        .preset
        .parse()
        .map_err(|e| UsageError(format!("--preset: {e}")))?;
    let embeddings: EmbeddingFormat = args
        .embeddings
        .parse()
        .map_err(|e| UsageError(format!("--embeddings: {e}")))?;
    let ternary: TernaryFormat = args
        .ternary
        .parse()
        .map_err(|e| UsageError(format!("--ternary: {e}")))?;
    let arch: Architecture = args
        .arch
        .parse()
        .map_err(|e| UsageError(format!("--arch: {e}")))?;
    let start = Instant::now();
    let formats = FileFormats {
        embeddings,
        ternary,
    };
    let bytes = write_preset_with(&args.out, preset, args.seed, formats, arch)
        .with_context(|| format!("write {}", args.out.display()))?;
    Ok(format!(
        "wrote {} ({preset}, seed {}, {embeddings} embeddings, {ternary} ternary, architecture \
         {arch}): {bytes} bytes in {:.2} s\n",
        args.out.display(),
        args.seed,
        start.elapsed().as_secs_f64()
    ))
}
