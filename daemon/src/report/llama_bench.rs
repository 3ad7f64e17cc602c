//! llama-bench's JSON results (`-o json`, as bitnet.cpp's and llama.cpp's builds print them) and
//! their mapping onto a bench report: one prefill and one decode phase, the model, the parameters.
//!
//! Pure functions over llama-bench's stdout; `commands::adapt` runs it and measures STREAM.

use serde::Deserialize;
use serde_json::Value;

use crate::report::bench_report::{DecodeRoofline, ModelInfo};
use crate::report::phase::{Phase, PhaseResult};
use crate::stats::Summary;

/// Why llama-bench's output cannot become a report.
#[derive(Debug, thiserror::Error)]
pub enum LlamaBenchError {
    /// Nothing but whitespace on stdout.
    #[error("llama-bench printed nothing on stdout (expected its `-o json` results)")]
    NoOutput,
    /// Not (complete, valid) JSON.
    #[error("llama-bench output is not valid JSON: {0}")]
    NotJson(serde_json::Error),
    /// JSON, but not the list of results.
    #[error("llama-bench JSON is {0}, not the list of results that `-o json` prints")]
    NotAList(&'static str),
    /// `[]`.
    #[error("llama-bench printed no results (an empty JSON list)")]
    NoResults,
    /// A result lacks a field perfd needs, or holds the wrong type there.
    #[error("llama-bench JSON result {index} is malformed: {cause}")]
    BadResult {
        /// Position in the list (0-based).
        index: usize,
        /// What serde found wrong.
        cause: serde_json::Error,
    },
    /// Only combined (`-pg`) or empty tests.
    #[error(
        "llama-bench printed no prefill result (n_prompt > 0, n_gen = 0) and no decode result \
         (n_gen > 0, n_prompt = 0)"
    )]
    NoPhase,
    /// Several results for one phase: a sweep, which one report cannot hold.
    #[error(
        "llama-bench printed {count} {phase} results ({which}); a report holds one configuration \
         per phase: give -p, -n, -t, -b and the other list options one value each"
    )]
    SeveralResults {
        /// `prefill` or `decode`.
        phase: &'static str,
        /// How many.
        count: usize,
        /// What distinguishes them.
        which: String,
    },
    /// The prefill and decode results ran different configurations or models.
    #[error("llama-bench's prefill and decode results ran different configurations: {prefill} vs {decode}")]
    MixedConfigurations {
        /// The prefill result's model and parameters.
        prefill: String,
        /// The decode result's model and parameters.
        decode: String,
    },
    /// Samples missing, of different counts, or not positive.
    #[error("llama-bench {phase} result: {problem}")]
    BadSamples {
        /// `prefill` or `decode`.
        phase: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// One llama-bench result (one test of one configuration). Only the fields perfd maps; those
/// that llama-bench versions (bitnet.cpp's fork, llama.cpp) add, drop or retype are defaulted.
#[derive(Debug, Clone, Deserialize)]
pub struct LlamaBenchRow {
    /// Commit llama-bench was built from (`unknown` when built without git info).
    #[serde(default)]
    pub build_commit: String,
    /// Build number.
    #[serde(default)]
    pub build_number: i64,
    /// CPU as llama-bench names it.
    #[serde(default)]
    pub cpu_info: String,
    /// GPUs as llama-bench names them (empty on CPU-only builds).
    #[serde(default)]
    pub gpu_info: String,
    /// Backends (llama.cpp); older builds and bitnet.cpp have per-backend flags instead.
    #[serde(default)]
    pub backends: Option<String>,
    /// CUDA build (older llama-bench, bitnet.cpp).
    #[serde(default)]
    pub cuda: bool,
    /// Vulkan build.
    #[serde(default)]
    pub vulkan: bool,
    /// Kompute build.
    #[serde(default)]
    pub kompute: bool,
    /// Metal build.
    #[serde(default)]
    pub metal: bool,
    /// SYCL build.
    #[serde(default)]
    pub sycl: bool,
    /// GPU BLAS build.
    #[serde(default)]
    pub gpu_blas: bool,
    /// BLAS build.
    #[serde(default)]
    pub blas: bool,
    /// Model file as given to `-m`.
    pub model_filename: String,
    /// Model description, e.g. `bitnet-b1.58 2B I2_S - 2 bpw ternary`.
    pub model_type: String,
    /// Bytes of all weight tensors (not the file size: no header or metadata).
    #[serde(default)]
    pub model_size: Option<u64>,
    /// Parameters of the model.
    #[serde(default)]
    pub model_n_params: Option<u64>,
    /// Logical batch size.
    #[serde(default)]
    pub n_batch: Option<u64>,
    /// Physical batch size.
    #[serde(default)]
    pub n_ubatch: Option<u64>,
    /// Threads.
    pub n_threads: usize,
    /// K cache type.
    #[serde(default)]
    pub type_k: String,
    /// V cache type.
    #[serde(default)]
    pub type_v: String,
    /// Layers offloaded to a GPU.
    #[serde(default)]
    pub n_gpu_layers: Option<i64>,
    /// Flash attention: a bool in bitnet.cpp and older llama.cpp, -1/0/1 in newer llama.cpp.
    #[serde(default)]
    pub flash_attn: Value,
    /// Prompt tokens of the test (0 for a pure generation test).
    pub n_prompt: usize,
    /// Generated tokens of the test (0 for a pure prompt test).
    pub n_gen: usize,
    /// Context already filled before the test (newer llama.cpp; 0 otherwise).
    #[serde(default)]
    pub n_depth: u64,
    /// Wall nanoseconds per repetition.
    #[serde(default)]
    pub samples_ns: Vec<f64>,
    /// Tokens per second per repetition.
    #[serde(default)]
    pub samples_ts: Vec<f64>,
}

/// The two phases a llama-bench result can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowPhase {
    /// Prompt processing: `n_prompt > 0`, `n_gen = 0`.
    Prefill,
    /// Generation: `n_gen > 0`, `n_prompt = 0`.
    Decode,
}

impl RowPhase {
    /// The report's phase.
    pub fn phase(self) -> Phase {
        match self {
            RowPhase::Prefill => Phase::Prefill,
            RowPhase::Decode => Phase::Decode,
        }
    }

    /// The phase's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            RowPhase::Prefill => "prefill",
            RowPhase::Decode => "decode",
        }
    }

    /// Tokens one repetition processes.
    fn tokens(self, row: &LlamaBenchRow) -> usize {
        match self {
            RowPhase::Prefill => row.n_prompt,
            RowPhase::Decode => row.n_gen,
        }
    }

    /// The phase a result measures; `None` for combined (`-pg`) or empty tests, which have no
    /// phase in the report.
    pub fn of(row: &LlamaBenchRow) -> Option<Self> {
        match (row.n_prompt, row.n_gen) {
            (p, 0) if p > 0 => Some(RowPhase::Prefill),
            (0, g) if g > 0 => Some(RowPhase::Decode),
            _ => None,
        }
    }
}

/// What a llama-bench run contributes to a bench report.
#[derive(Debug, Clone)]
pub struct Adapted {
    /// Prefill then decode, whichever llama-bench ran.
    pub phases: Vec<PhaseResult>,
    /// Threads llama-bench used (the STREAM measurement uses as many).
    pub threads: usize,
    /// The model (shape unknown: llama-bench does not print it).
    pub model: ModelInfo,
    /// Bytes of all weight tensors (llama-bench `model_size`), when printed.
    pub weights_bytes: Option<u64>,
    /// `k=v,...` of the configuration llama-bench ran, its build and the CPU/GPU it named.
    pub params: String,
    /// `llama-bench:<backend>:<model type>`.
    pub kernel_ids: Vec<String>,
    /// The engine's commit as llama-bench reports it (`unknown` when built without git info).
    pub commit: String,
    /// Cache positions filled before the tests (`n_depth`, llama-bench `-d`; 0 in builds
    /// without it).
    pub depth: u64,
}

/// Parses llama-bench's stdout into its results.
pub fn parse(stdout: &[u8]) -> Result<Vec<LlamaBenchRow>, LlamaBenchError> {
    if stdout.iter().all(u8::is_ascii_whitespace) {
        return Err(LlamaBenchError::NoOutput);
    }
    let value: Value = serde_json::from_slice(stdout).map_err(LlamaBenchError::NotJson)?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(_) => return Err(LlamaBenchError::NotAList("an object")),
        Value::String(_) => return Err(LlamaBenchError::NotAList("a string")),
        Value::Number(_) => return Err(LlamaBenchError::NotAList("a number")),
        Value::Bool(_) => return Err(LlamaBenchError::NotAList("a boolean")),
        Value::Null => return Err(LlamaBenchError::NotAList("null")),
    };
    if items.is_empty() {
        return Err(LlamaBenchError::NoResults);
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            serde_json::from_value::<LlamaBenchRow>(item)
                .map_err(|cause| LlamaBenchError::BadResult { index, cause })
        })
        .collect()
}

/// Parses llama-bench's stdout and maps it onto the parts of a bench report.
pub fn adapt(stdout: &[u8]) -> Result<Adapted, LlamaBenchError> {
    let rows = parse(stdout)?;
    let prefill = only_result(&rows, RowPhase::Prefill)?;
    let decode = only_result(&rows, RowPhase::Decode)?;
    let first = match (prefill, decode) {
        (None, None) => return Err(LlamaBenchError::NoPhase),
        (Some(p), Some(d)) => {
            let (a, b) = (configuration(p), configuration(d));
            if a != b {
                return Err(LlamaBenchError::MixedConfigurations {
                    prefill: a,
                    decode: b,
                });
            }
            p
        }
        (Some(r), None) | (None, Some(r)) => r,
    };
    let mut phases = Vec::new();
    for (phase, row) in [(RowPhase::Prefill, prefill), (RowPhase::Decode, decode)] {
        if let Some(row) = row {
            phases.push(phase_result(phase, row)?);
        }
    }
    Ok(Adapted {
        phases,
        threads: first.n_threads,
        model: model_info(first),
        weights_bytes: first.model_size.filter(|&b| b > 0),
        params: params(first),
        kernel_ids: vec![format!(
            "llama-bench:{}:{}",
            backend(first),
            first.model_type.trim()
        )],
        commit: Some(first.build_commit.trim())
            .filter(|c| !c.is_empty())
            .unwrap_or("unknown")
            .to_string(),
        depth: first.n_depth,
    })
}

/// The one result of `phase`, if any; several are an error (a sweep).
fn only_result(
    rows: &[LlamaBenchRow],
    phase: RowPhase,
) -> Result<Option<&LlamaBenchRow>, LlamaBenchError> {
    let of_phase: Vec<&LlamaBenchRow> = rows
        .iter()
        .filter(|r| RowPhase::of(r) == Some(phase))
        .collect();
    match of_phase.len() {
        0 => Ok(None),
        1 => Ok(Some(of_phase[0])),
        count => Err(LlamaBenchError::SeveralResults {
            phase: phase.name(),
            count,
            which: of_phase
                .iter()
                .map(|r| {
                    format!(
                        "{} tokens, depth {}, {}",
                        phase.tokens(r),
                        r.n_depth,
                        configuration(r)
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        }),
    }
}

/// Summaries of one result's samples, checked: present, as many ns as tokens/s, all positive.
fn phase_result(phase: RowPhase, row: &LlamaBenchRow) -> Result<PhaseResult, LlamaBenchError> {
    let bad = |problem: String| LlamaBenchError::BadSamples {
        phase: phase.name(),
        problem,
    };
    check_samples("samples_ts", &row.samples_ts).map_err(bad)?;
    check_samples("samples_ns", &row.samples_ns).map_err(bad)?;
    if row.samples_ts.len() != row.samples_ns.len() {
        return Err(bad(format!(
            "{} samples_ts but {} samples_ns",
            row.samples_ts.len(),
            row.samples_ns.len()
        )));
    }
    let tokens_per_second = Summary::of(row.samples_ts.clone())
        .ok_or_else(|| bad("samples_ts cannot be summarised".into()))?;
    let seconds = Summary::of(row.samples_ns.iter().map(|ns| ns / 1e9).collect())
        .ok_or_else(|| bad("samples_ns cannot be summarised".into()))?;
    Ok(PhaseResult {
        phase: phase.phase(),
        tokens: phase.tokens(row),
        seconds,
        tokens_per_second,
    })
}

/// Samples must exist and be positive finite figures: never a zero, never a placeholder.
fn check_samples(name: &str, samples: &[f64]) -> Result<(), String> {
    if samples.is_empty() {
        return Err(format!(
            "no {name} (a llama-bench too old to print per-repetition samples, or no repetition ran)"
        ));
    }
    match samples.iter().find(|s| !s.is_finite() || **s <= 0.0) {
        Some(s) => Err(format!("{name} holds {s}, not a positive figure")),
        None => Ok(()),
    }
}

/// The model as llama-bench names it. llama-bench prints neither the shape nor the file size, so
/// those stay absent (the caller may stat the file).
fn model_info(row: &LlamaBenchRow) -> ModelInfo {
    ModelInfo {
        path: row.model_filename.clone(),
        preset: None,
        name: Some(row.model_type.trim().to_string()).filter(|n| !n.is_empty()),
        architecture: None,
        layers: None,
        hidden: None,
        ffn: None,
        heads: None,
        kv_heads: None,
        vocab: None,
        file_bytes: None,
        weights_placement: None,
        weights_layout: None,
        lm_head_layout: None,
        weights_huge_page_bytes: None,
        kv_cache: Some(row.type_k.clone()).filter(|t| !t.is_empty()),
    }
}

/// The backend a result ran on: llama.cpp's `backends`, or the flags older builds print.
fn backend(row: &LlamaBenchRow) -> String {
    if let Some(b) = row
        .backends
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        return b.to_string();
    }
    let flags = [
        (row.cuda, "CUDA"),
        (row.vulkan, "Vulkan"),
        (row.kompute, "Kompute"),
        (row.metal, "Metal"),
        (row.sycl, "SYCL"),
        (row.gpu_blas, "GPU BLAS"),
        (row.blas, "BLAS"),
    ];
    let on: Vec<&str> = flags
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
    if on.is_empty() {
        "CPU".into()
    } else {
        on.join(",")
    }
}

/// `k=v,...` of what llama-bench ran and was built from (values with commas get `;`, so the list
/// splits cleanly). Excludes the test size, which the phases carry.
pub fn params(row: &LlamaBenchRow) -> String {
    let mut kv: Vec<(&str, String)> = vec![("n_threads", row.n_threads.to_string())];
    if let Some(b) = row.n_batch {
        kv.push(("n_batch", b.to_string()));
    }
    if let Some(u) = row.n_ubatch {
        kv.push(("n_ubatch", u.to_string()));
    }
    for (k, v) in [("type_k", &row.type_k), ("type_v", &row.type_v)] {
        if !v.is_empty() {
            kv.push((k, v.clone()));
        }
    }
    match &row.flash_attn {
        Value::Null => {}
        Value::String(s) => kv.push(("flash_attn", s.clone())),
        other => kv.push(("flash_attn", other.to_string())),
    }
    if let Some(n) = row.n_gpu_layers {
        kv.push(("n_gpu_layers", n.to_string()));
    }
    if row.n_depth > 0 {
        kv.push(("n_depth", row.n_depth.to_string()));
    }
    kv.push(("backend", backend(row)));
    kv.push(("build_commit", row.build_commit.clone()));
    kv.push(("build_number", row.build_number.to_string()));
    if !row.cpu_info.trim().is_empty() {
        kv.push(("cpu_info", row.cpu_info.trim().to_string()));
    }
    if !row.gpu_info.trim().is_empty() {
        kv.push(("gpu_info", row.gpu_info.trim().to_string()));
    }
    kv.iter()
        .map(|(k, v)| format!("{k}={}", v.replace(',', ";")))
        .collect::<Vec<_>>()
        .join(",")
}

/// What must match between the prefill and decode results to be one report: model and params.
fn configuration(row: &LlamaBenchRow) -> String {
    format!("model={},{}", row.model_filename, params(row))
}

/// Decode against the read-bandwidth roofline of the same run.
///
/// Bytes per token is `weights_bytes`: what the caller read from the model file's tensor table
/// where it could ([`bitnet_kernels::gguf::decode_bytes`]: every tensor, one row of an untied
/// token embedding), else llama-bench's `model_size`, all weight tensors as the engine counts
/// them (an untied embedding in full: roofline too low, ratio too high, by its share). Both leave
/// out the KV cache (roofline too high, ratio too low, by little at short contexts).
/// `None` without a decode phase, a weight size or a positive bandwidth.
pub fn decode_roofline(
    phases: &[PhaseResult],
    weights_bytes: Option<u64>,
    read_bytes_per_second: f64,
) -> Option<DecodeRoofline> {
    let decode = phases.iter().find(|p| p.phase == Phase::Decode)?;
    let bytes_per_token = weights_bytes.filter(|&b| b > 0)?;
    let measured = read_bytes_per_second.is_finite() && read_bytes_per_second > 0.0;
    if !measured {
        return None;
    }
    let roofline_tokens_per_second = read_bytes_per_second / bytes_per_token as f64;
    Some(DecodeRoofline {
        bytes_per_token,
        kv_bytes_per_token: 0,
        bandwidth: "read".into(),
        bandwidth_bytes_per_second: read_bytes_per_second,
        roofline_tokens_per_second,
        ratio: decode.tokens_per_second.median / roofline_tokens_per_second,
        same_window: None,
    })
}

/// The command with `-o json` appended unless it already asks for JSON; another output format is
/// an error (perfd reads only JSON).
pub fn json_command(command: &[String]) -> Result<Vec<String>, String> {
    let mut has_json = false;
    let mut i = 1;
    while i < command.len() {
        let arg = command[i].as_str();
        if arg == "-o" || arg == "--output" {
            match command.get(i + 1).map(String::as_str) {
                Some("json") => has_json = true,
                Some(other) => {
                    return Err(format!(
                        "`{arg} {other}`: perfd reads llama-bench's JSON; leave the option out \
                         (perfd adds `-o json`) or give `-o json`"
                    ))
                }
                None => return Err(format!("`{arg}` without a format")),
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    let mut out = command.to_vec();
    if !has_json {
        out.extend(["-o".to_string(), "json".to_string()]);
    }
    Ok(out)
}

/// The thread count the command asks for (`-t N` / `--threads N`), when it gives one number.
pub fn threads_arg(command: &[String]) -> Option<usize> {
    command
        .windows(2)
        .rev()
        .find(|w| w[0] == "-t" || w[0] == "--threads")
        .and_then(|w| w[1].trim().parse().ok())
        .filter(|&t: &usize| t > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixtures: llama-bench output of bitnet.cpp (two dates) and llama.cpp, beside the repo.
    const FIXTURES: [&str; 3] = [
        "bitnetcpp-2025-05-i2_s.json",
        "bitnetcpp-2026-03-i2_s.json",
        "llamacpp-2026-10-tq2_0.json",
    ];

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../shared/fixtures/llama-bench/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    fn fixture_value(name: &str) -> Value {
        serde_json::from_slice(&fixture(name)).unwrap()
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }

    fn samples(row: &Value, key: &str) -> Vec<f64> {
        row[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    }

    #[test]
    fn every_fixture_maps_to_a_prefill_and_a_decode_phase() {
        for name in FIXTURES {
            let rows = fixture_value(name);
            let a = adapt(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            let names: Vec<&str> = a.phases.iter().map(|p| p.phase.name()).collect();
            assert_eq!(names, ["prefill", "decode"], "{name}");
            for (phase, row) in a.phases.iter().zip(rows.as_array().unwrap()) {
                assert_eq!(phase.tokens, 128, "{name}");
                let ts = samples(row, "samples_ts");
                assert_eq!(phase.tokens_per_second.samples, ts, "{name}");
                assert_eq!(phase.tokens_per_second.median, median(ts), "{name}");
                let s = median(samples(row, "samples_ns")) / 1e9;
                assert!((phase.seconds.median - s).abs() < 1e-12, "{name}");
                assert!(phase.tokens_per_second.ci95[0] <= phase.tokens_per_second.median);
            }
            let first = &rows[0];
            assert_eq!(a.threads, 2);
            assert_eq!(a.model.path, first["model_filename"].as_str().unwrap());
            assert_eq!(a.model.name.as_deref(), first["model_type"].as_str());
            assert_eq!(a.model.layers, None, "llama-bench does not print the shape");
            assert_eq!(a.weights_bytes, first["model_size"].as_u64());
            assert_eq!(a.commit, "unknown");
            assert!(
                a.params
                    .starts_with("n_threads=2,n_batch=2048,n_ubatch=512,type_k=f16,type_v=f16,"),
                "{}",
                a.params
            );
            assert!(a.params.contains("build_commit=unknown"), "{}", a.params);
            assert!(
                a.params.contains("cpu_info=Intel(R) Xeon(R) Processor"),
                "{}",
                a.params
            );
            assert_eq!(
                a.kernel_ids,
                [format!(
                    "llama-bench:CPU:{}",
                    first["model_type"].as_str().unwrap()
                )]
            );
        }
    }

    #[test]
    fn flash_attn_is_read_as_bool_or_number() {
        assert!(adapt(&fixture(FIXTURES[0]))
            .unwrap()
            .params
            .contains("flash_attn=false"));
        assert!(adapt(&fixture(FIXTURES[2]))
            .unwrap()
            .params
            .contains("flash_attn=0"));
    }

    #[test]
    fn roofline_divides_read_bandwidth_by_the_weight_bytes() {
        let a = adapt(&fixture(FIXTURES[0])).unwrap();
        let rf = decode_roofline(&a.phases, a.weights_bytes, 10e9).unwrap();
        assert_eq!(rf.bandwidth, "read");
        assert_eq!(rf.bytes_per_token, 1_836_120_640);
        assert!((rf.roofline_tokens_per_second - 10e9 / 1_836_120_640.0).abs() < 1e-9);
        let decode = &a.phases[1].tokens_per_second;
        assert!((rf.ratio - decode.median / rf.roofline_tokens_per_second).abs() < 1e-12);
        assert!(decode_roofline(&a.phases, None, 10e9).is_none());
        assert!(decode_roofline(&a.phases, a.weights_bytes, 0.0).is_none());
        assert!(decode_roofline(&a.phases[..1], a.weights_bytes, 10e9).is_none());
    }

    fn with_rows(rows: Vec<Value>) -> Vec<u8> {
        serde_json::to_vec(&Value::Array(rows)).unwrap()
    }

    fn rows(name: &str) -> Vec<Value> {
        fixture_value(name).as_array().unwrap().clone()
    }

    fn err(stdout: &[u8]) -> String {
        adapt(stdout).unwrap_err().to_string()
    }

    #[test]
    fn malformed_output_is_described() {
        assert!(err(b"").contains("nothing on stdout"));
        assert!(err(b"main: error: failed to load model\n").contains("not valid JSON"));
        assert!(err(b"[\n  {\"n_prompt\": 128,").contains("not valid JSON"));
        assert!(err(b"{\"a\": 1}").contains("an object"));
        assert!(err(b"[]").contains("no results"));
        assert!(err(b" [ ] \n").contains("no results"));
        let mut r = rows(FIXTURES[0]);
        r[1].as_object_mut().unwrap().remove("n_gen");
        let e = err(&with_rows(r));
        assert!(e.contains("result 1") && e.contains("n_gen"), "{e}");
        let mut r = rows(FIXTURES[0]);
        r[0]["n_threads"] = Value::String("two".into());
        assert!(err(&with_rows(r)).contains("result 0 is malformed"));
    }

    #[test]
    fn results_without_a_phase_are_an_error() {
        let mut r = rows(FIXTURES[1]);
        for row in &mut r {
            row["n_prompt"] = 512.into();
            row["n_gen"] = 128.into();
        }
        assert!(matches!(
            adapt(&with_rows(r)),
            Err(LlamaBenchError::NoPhase)
        ));
    }

    #[test]
    fn a_single_phase_is_a_report() {
        let r = rows(FIXTURES[2]);
        let a = adapt(&with_rows(vec![r[1].clone()])).unwrap();
        assert_eq!(a.phases.len(), 1);
        assert_eq!(a.phases[0].phase, Phase::Decode);
    }

    #[test]
    fn a_sweep_or_mixed_configurations_are_refused() {
        let r = rows(FIXTURES[0]);
        let mut other = r[0].clone();
        other["n_prompt"] = 512.into();
        let e = adapt(&with_rows(vec![r[0].clone(), other, r[1].clone()]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("2 prefill results") && e.contains("512 tokens"),
            "{e}"
        );
        let mut decode = r[1].clone();
        decode["n_threads"] = 4.into();
        let e = adapt(&with_rows(vec![r[0].clone(), decode]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("different configurations") && e.contains("n_threads=4"),
            "{e}"
        );
    }

    #[test]
    fn missing_or_non_positive_samples_are_refused() {
        let cases: [(&str, Value, &str); 4] = [
            ("samples_ts", Value::Array(vec![]), "no samples_ts"),
            (
                "samples_ts",
                serde_json::json!([41.9, 0.0, 42.1, 40.0, 41.0]),
                "holds 0",
            ),
            (
                "samples_ns",
                serde_json::json!([-1, 2, 3, 4, 5]),
                "holds -1",
            ),
            (
                "samples_ns",
                serde_json::json!([1, 2, 3]),
                "5 samples_ts but 3 samples_ns",
            ),
        ];
        for (key, value, want) in cases {
            let mut r = rows(FIXTURES[0]);
            r[0][key] = value;
            let e = adapt(&with_rows(r)).unwrap_err().to_string();
            assert!(e.contains("prefill") && e.contains(want), "{key}: {e}");
        }
        let mut r = rows(FIXTURES[0]);
        r[1].as_object_mut().unwrap().remove("samples_ns");
        let e = adapt(&with_rows(r)).unwrap_err().to_string();
        assert!(e.contains("decode") && e.contains("no samples_ns"), "{e}");
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn json_output_is_added_unless_asked_for() {
        assert_eq!(
            json_command(&strings(&["llama-bench", "-m", "m.gguf"])).unwrap(),
            strings(&["llama-bench", "-m", "m.gguf", "-o", "json"])
        );
        let given = strings(&["llama-bench", "-o", "json", "-m", "m.gguf"]);
        assert_eq!(json_command(&given).unwrap(), given);
        let given = strings(&["llama-bench", "--output", "json"]);
        assert_eq!(json_command(&given).unwrap(), given);
        assert!(json_command(&strings(&["llama-bench", "-o", "md"]))
            .unwrap_err()
            .contains("-o md"));
        assert!(json_command(&strings(&["llama-bench", "-o"])).is_err());
        // The program itself is never taken for an option.
        assert_eq!(
            json_command(&strings(&["-o"])).unwrap(),
            strings(&["-o", "-o", "json"])
        );
    }

    #[test]
    fn thread_count_is_read_from_the_command() {
        assert_eq!(threads_arg(&strings(&["llama-bench", "-t", "4"])), Some(4));
        assert_eq!(
            threads_arg(&strings(&["llama-bench", "--threads", "2"])),
            Some(2)
        );
        assert_eq!(threads_arg(&strings(&["llama-bench", "-t", "2,4"])), None);
        assert_eq!(threads_arg(&strings(&["llama-bench", "-t", "0"])), None);
        assert_eq!(threads_arg(&strings(&["llama-bench", "-m", "x"])), None);
    }
}
