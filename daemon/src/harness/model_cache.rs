//! Synthetic model files kept in a cache directory, written on first use.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use bitnet_kernels::format::embedding::EmbeddingFormat;
use bitnet_kernels::format::model_layout::ModelLayout;
use bitnet_kernels::gguf::Placement;
use bitnet_kernels::model::synthetic_model::write_preset_as;
use bitnet_kernels::model::{BitnetModel, Preset};

pub use bitnet_kernels::model::synthetic_model::DEFAULT_SEED;

/// The cache directory: `$PERFD_CACHE_DIR`, else `$XDG_CACHE_HOME/bitnet-perfd`, else
/// `$HOME/.cache/bitnet-perfd`, else a directory under the system temp dir.
pub fn default_cache_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("PERFD_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("bitnet-perfd")))
        .or_else(|| env("HOME").map(|h| h.join(".cache/bitnet-perfd")))
        .unwrap_or_else(|| std::env::temp_dir().join("bitnet-perfd-cache"))
}

/// Path of a preset's synthetic model in `dir` (F16 embeddings: the name files always had).
pub fn preset_path(dir: &Path, preset: Preset, seed: u64, embeddings: EmbeddingFormat) -> PathBuf {
    match embeddings {
        EmbeddingFormat::F16 => dir.join(format!("{preset}-seed{seed:x}.gguf")),
        other => dir.join(format!("{preset}-seed{seed:x}-{other}.gguf")),
    }
}

/// Loads the preset's cached model (F16 embeddings), writing it first when absent or unreadable.
/// `note` receives one line per action taken (for progress output).
pub fn load_or_write(
    dir: &Path,
    preset: Preset,
    seed: u64,
    note: &dyn Fn(String),
) -> Result<BitnetModel> {
    load_or_write_as(
        dir,
        preset,
        seed,
        EmbeddingFormat::F16,
        (Placement::HugePages, ModelLayout::AS_STORED),
        note,
    )
}

/// Like [`load_or_write`], with the embedding in `embeddings`, the bytes placed as `placement`
/// asks and the weights in `layout` (an engine's `model_layout`).
pub fn load_or_write_as(
    dir: &Path,
    preset: Preset,
    seed: u64,
    embeddings: EmbeddingFormat,
    (placement, layout): (Placement, ModelLayout),
    note: &dyn Fn(String),
) -> Result<BitnetModel> {
    let path = preset_path(dir, preset, seed, embeddings);
    if path.exists() {
        match BitnetModel::load_as(&path, placement, layout) {
            Ok(m) => return Ok(m),
            // Our own cache file: a damaged one is replaced, not fatal.
            Err(e) => note(format!(
                "cached model {} is unusable ({e}); writing it again",
                path.display()
            )),
        }
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("create cache directory {}", dir.display()))?;
    note(format!(
        "writing synthetic {preset} model ({embeddings} embeddings) to {}",
        path.display()
    ));
    let start = Instant::now();
    let bytes = write_preset_as(&path, preset, seed, embeddings)
        .with_context(|| format!("write {}", path.display()))?;
    note(format!(
        "wrote {:.2} GB in {:.1} s",
        bytes as f64 / 1e9,
        start.elapsed().as_secs_f64()
    ));
    BitnetModel::load_as(&path, placement, layout)
        .with_context(|| format!("load freshly written {}", path.display()))
}

/// The model a command names: a file (`--model`), else a synthetic preset (`--preset`, its
/// embedding in `embeddings`, written to `cache_dir`, default [`default_cache_dir`], on first use),
/// its bytes placed as `placement` asks, its weights in `layout`. Returns the preset
/// when it was one.
pub fn load_named(
    model: Option<&Path>,
    preset: &str,
    embeddings: EmbeddingFormat,
    (placement, layout): (Placement, ModelLayout),
    cache_dir: Option<&Path>,
    note: &dyn Fn(String),
) -> Result<(BitnetModel, Option<Preset>)> {
    match model {
        Some(path) => Ok((
            BitnetModel::load_as(path, placement, layout)
                .with_context(|| format!("load model {}", path.display()))?,
            None,
        )),
        None => {
            let preset: Preset = preset
                .parse()
                .map_err(|e| crate::UsageError(format!("--preset: {e}")))?;
            let dir = cache_dir.map_or_else(default_cache_dir, Path::to_path_buf);
            Ok((
                load_or_write_as(
                    &dir,
                    preset,
                    DEFAULT_SEED,
                    embeddings,
                    (placement, layout),
                    note,
                )?,
                Some(preset),
            ))
        }
    }
}
