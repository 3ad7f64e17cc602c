//! `perfd model logits`: a model's logits for given tokens, in the prefill or the decode path,
//! as raw f32 (the layout other engines' reference dumps use) or JSON.

use std::io::Write;

use anyhow::{Context, Result};

use bitnet_kernels::model::logit_parity::{logits, EvalMode};
use bitnet_kernels::model::{BitnetModel, Numerics, Session};
use bitnet_kernels::{I2sGemm, KernelConfig};

use crate::cli::ModelLogitsArgs;
use crate::harness::support::parse_params;
use crate::UsageError;

/// Parses `--mode`.
pub fn parse_mode(mode: &str) -> Result<EvalMode> {
    match mode {
        "prefill" | "batch" => Ok(EvalMode::Prefill),
        "decode" | "seq" => Ok(EvalMode::Decode),
        other => Err(UsageError(format!("--mode: `{other}` is not prefill or decode")).into()),
    }
}

/// Parses `--numerics`.
pub fn parse_numerics(numerics: &str) -> Result<Numerics> {
    match numerics {
        "exact" => Ok(Numerics::Exact),
        "fast" => Ok(Numerics::Fast),
        "ggml" => Ok(Numerics::GgmlF16),
        other => {
            Err(UsageError(format!("--numerics: `{other}` is not exact, fast or ggml")).into())
        }
    }
}

/// Parses `--tokens 1,2,3`.
fn parse_tokens(spec: &str) -> Result<Vec<u32>> {
    let tokens = spec
        .split(',')
        .map(|t| {
            t.trim()
                .parse::<u32>()
                .map_err(|_| UsageError(format!("--tokens: `{t}` is not a token id")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if tokens.is_empty() {
        return Err(UsageError("--tokens: no token given".into()).into());
    }
    Ok(tokens)
}

/// Computes the logits; returns what to print.
pub fn run(args: &ModelLogitsArgs) -> Result<String> {
    let tokens = parse_tokens(&args.tokens)?;
    let mode = parse_mode(&args.mode)?;
    let numerics = parse_numerics(&args.numerics)?;
    let config = match &args.params {
        Some(p) => parse_params(p)?,
        None => KernelConfig::default(),
    };
    let engine = I2sGemm::new(config).with_context(|| format!("configure kernels {config}"))?;
    let model = BitnetModel::load(&args.model)
        .with_context(|| format!("load model {}", args.model.display()))?;
    let vocab = model.hparams().vocab;
    let mut session = Session::new(&model, &engine, tokens.len())
        .context("start a session")?
        .with_numerics(numerics);
    let out = logits(&mut session, &tokens, mode, &[]).context("forward pass")?;
    match &args.out {
        Some(path) => {
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("create {}", path.display()))?,
            );
            for v in &out {
                f.write_all(&v.to_le_bytes())?;
            }
            f.flush()
                .with_context(|| format!("write {}", path.display()))?;
            Ok(format!(
                "wrote {} ({} positions x {vocab} logits, f32 little-endian, {})\n",
                path.display(),
                tokens.len(),
                engine.kernel_id()
            ))
        }
        None => {
            let rows: Vec<&[f32]> = out.chunks_exact(vocab).collect();
            Ok(serde_json::to_string(&serde_json::json!({
                "model": args.model.display().to_string(),
                "mode": args.mode,
                "tokens": tokens,
                "vocab": vocab,
                "kernel": engine.kernel_id(),
                "logits": rows,
            }))? + "\n")
        }
    }
}
