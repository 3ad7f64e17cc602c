//! `perfd bench --crossval --against DIR`: perfd's logits against another engine's reference
//! logits (a directory with `MANIFEST.json`, as in `../shared/fixtures/bitnetcpp/`), per position:
//! cosine, max |Δ|, top-1 and top-5 agreement. Prompt rows are evaluated in the reference's own
//! mode (batch = prefill path, seq = decode path); generation rows feed the reference's greedy
//! tokens one at a time, so both engines see the same inputs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use bitnet_kernels::model::logit_parity::{compare, logits, PositionParity};
use bitnet_kernels::model::{BitnetModel, Numerics, Session};
use bitnet_kernels::{I2sGemm, KernelConfig};

use super::model_logits::{parse_mode, parse_numerics};
use crate::cli::BenchArgs;
use crate::harness::support::{parse_params, BenchOutcome};

/// Every position must reach this cosine with the reference.
pub const MIN_COSINE: f64 = 0.999;
/// The positions of a file must share on average at least this fraction of the reference's five
/// best tokens. An average: one position's overlap moves in steps of 0.2, and an int8 rounding
/// flip (inevitable between engines) swaps near-tied 5th and 6th tokens at single positions.
pub const MIN_TOP5_OVERLAP: f64 = 0.9;
/// A position whose largest |Δ| exceeds this has diverged (in ggml numerics: the first int8
/// rounding flip; before it the engines agree to float rounding).
pub const DIVERGENCE_ABS: f64 = 1e-3;

#[derive(Debug, Deserialize)]
struct Manifest {
    models: Vec<ManifestModel>,
}

#[derive(Debug, Deserialize)]
struct ManifestModel {
    name: String,
    file: String,
    vocab: usize,
    runs: Vec<ManifestRun>,
}

#[derive(Debug, Deserialize)]
struct ManifestRun {
    sequence: String,
    mode: String,
    tokens: Vec<u32>,
    logits_file: String,
    gen_file: Option<String>,
    #[serde(default)]
    greedy: Vec<u32>,
}

/// Agreement over one reference file.
#[derive(Debug, Clone, Serialize)]
pub struct FileParity {
    /// Model name in the manifest.
    pub model: String,
    /// Token sequence name.
    pub sequence: String,
    /// `batch` (prefill path) or `seq` (decode path).
    pub mode: String,
    /// `prompt` rows or `gen` (greedy continuation) rows.
    pub part: String,
    /// Reference file.
    pub file: String,
    /// Lowest cosine over the positions.
    pub min_cosine: f64,
    /// Largest |Δ| over the positions.
    pub max_abs_diff: f64,
    /// Fraction of positions with the same argmax.
    pub top1_agreement: f64,
    /// Lowest top-5 overlap over the positions.
    pub min_top5_overlap: f64,
    /// Mean top-5 overlap over the positions.
    pub mean_top5_overlap: f64,
    /// First position whose largest |Δ| exceeds [`DIVERGENCE_ABS`], if any.
    pub first_divergence: Option<usize>,
    /// Per position: (cosine, max |Δ|, top-1 equal, top-5 overlap).
    pub positions: Vec<(f64, f64, bool, f64)>,
    /// Every position met [`MIN_COSINE`], and the mean top-5 overlap [`MIN_TOP5_OVERLAP`].
    pub pass: bool,
}

fn summarise(
    model: &str,
    run: &ManifestRun,
    part: &str,
    file: &str,
    p: &[PositionParity],
) -> FileParity {
    let min_cosine = p.iter().map(|x| x.cosine).fold(f64::INFINITY, f64::min);
    let min_top5 = p
        .iter()
        .map(|x| x.top5_overlap)
        .fold(f64::INFINITY, f64::min);
    let mean_top5 = p.iter().map(|x| x.top5_overlap).sum::<f64>() / p.len().max(1) as f64;
    FileParity {
        model: model.into(),
        sequence: run.sequence.clone(),
        mode: run.mode.clone(),
        part: part.into(),
        file: file.into(),
        min_cosine,
        max_abs_diff: p.iter().map(|x| x.max_abs_diff).fold(0.0, f64::max),
        top1_agreement: p.iter().filter(|x| x.top1).count() as f64 / p.len().max(1) as f64,
        min_top5_overlap: min_top5,
        mean_top5_overlap: mean_top5,
        first_divergence: p.iter().position(|x| x.max_abs_diff > DIVERGENCE_ABS),
        positions: p
            .iter()
            .map(|x| (x.cosine, x.max_abs_diff, x.top1, x.top5_overlap))
            .collect(),
        pass: !p.is_empty() && min_cosine >= MIN_COSINE && mean_top5 >= MIN_TOP5_OVERLAP,
    }
}

/// Reads a raw little-endian f32 file of exactly `rows × vocab` values.
fn read_f32(path: &Path, rows: usize, vocab: usize) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    let want = rows * vocab * 4;
    if bytes.len() != want {
        bail!(
            "{}: {} bytes, expected {want} ({rows} x {vocab} f32)",
            path.display(),
            bytes.len()
        );
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Compares every run of every model in `dir`'s manifest.
pub fn compare_dir(
    dir: &Path,
    config: KernelConfig,
    numerics: Numerics,
) -> Result<Vec<FileParity>> {
    let manifest_path = dir.join("MANIFEST.json");
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(&manifest_path)
            .with_context(|| format!("read {}", manifest_path.display()))?,
    )
    .with_context(|| format!("parse {}", manifest_path.display()))?;
    let engine = I2sGemm::new(config).with_context(|| format!("configure kernels {config}"))?;
    let mut out = Vec::new();
    for m in &manifest.models {
        let path: PathBuf = dir.join(&m.file);
        let model =
            BitnetModel::load(&path).with_context(|| format!("load model {}", path.display()))?;
        if model.hparams().vocab != m.vocab {
            bail!(
                "{}: vocabulary {} but the manifest says {}",
                path.display(),
                model.hparams().vocab,
                m.vocab
            );
        }
        for run in &m.runs {
            let mode = parse_mode(&run.mode)?;
            // The last greedy token is never fed (the reference's gen rows stop before it).
            let continuation: &[u32] = match &run.gen_file {
                Some(_) => &run.greedy[..run.greedy.len().saturating_sub(1)],
                None => &[],
            };
            let positions = run.tokens.len() + continuation.len();
            let mut session = Session::new(&model, &engine, positions)
                .context("start a session")?
                .with_numerics(numerics);
            let ours = logits(&mut session, &run.tokens, mode, continuation)
                .with_context(|| format!("{} {} {}", m.name, run.sequence, run.mode))?;
            let (prompt_rows, gen_rows) = ours.split_at(run.tokens.len() * m.vocab);
            let reference = read_f32(&dir.join(&run.logits_file), run.tokens.len(), m.vocab)?;
            out.push(summarise(
                &m.name,
                run,
                "prompt",
                &run.logits_file,
                &compare(prompt_rows, &reference, m.vocab),
            ));
            if let Some(gen) = &run.gen_file {
                let reference = read_f32(&dir.join(gen), continuation.len(), m.vocab)?;
                out.push(summarise(
                    &m.name,
                    run,
                    "gen",
                    gen,
                    &compare(gen_rows, &reference, m.vocab),
                ));
            }
        }
    }
    Ok(out)
}

/// Runs the comparison; a file below the thresholds fails like any cross-validation (exit 2).
pub fn run(args: &BenchArgs, dir: &Path) -> Result<BenchOutcome> {
    let config = match &args.params {
        Some(p) => parse_params(p)?,
        None => KernelConfig::default(),
    };
    let numerics = parse_numerics(&args.numerics)?;
    let files = compare_dir(dir, config, numerics)?;
    let failed = files.iter().any(|f| !f.pass);
    let stdout = if args.json {
        serde_json::to_string_pretty(&serde_json::json!({
            "against": dir.display().to_string(),
            "params": config.to_string(),
            "numerics": args.numerics,
            "min_cosine": MIN_COSINE,
            "min_top5_overlap": MIN_TOP5_OVERLAP,
            "files": files,
            "pass": !failed,
        }))? + "\n"
    } else {
        let mut s = format!(
            "logit parity vs {} ({config}, {} numerics); pass: cosine >= {MIN_COSINE} at every position and mean top-5 overlap >= {MIN_TOP5_OVERLAP}\n",
            dir.display(),
            args.numerics
        );
        let _ = writeln!(
            s,
            "{:<8} {:<8} {:<6} {:<7} {:>5} {:>10} {:>9} {:>6} {:>9} {:>9} {:>6}",
            "model",
            "sequence",
            "mode",
            "part",
            "rows",
            "min cos",
            "max |d|",
            "top1",
            "top5 min",
            "top5 mean",
            "diverge"
        );
        for f in &files {
            let _ = writeln!(
                s,
                "{:<8} {:<8} {:<6} {:<7} {:>5} {:>10.6} {:>9.2e} {:>6.2} {:>9.2} {:>9.3} {:>6}  {}",
                f.model,
                f.sequence,
                f.mode,
                f.part,
                f.positions.len(),
                f.min_cosine,
                f.max_abs_diff,
                f.top1_agreement,
                f.min_top5_overlap,
                f.mean_top5_overlap,
                f.first_divergence
                    .map_or("-".to_string(), |p| p.to_string()),
                if f.pass { "pass" } else { "FAIL" }
            );
        }
        s
    };
    Ok(BenchOutcome {
        stdout,
        crossval_failed: failed,
    })
}
