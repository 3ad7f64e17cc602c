//! End-to-end: `perfd model write` and the model suite of `perfd bench` on the tiny preset —
//! tokens/sec phases, roofline, profile, peak memory, crossval — and clean errors for bad files.

use std::process::{Command, Output};

use serde_json::Value;

/// Runs perfd; `bench` gets small bandwidth arrays so the run does not depend on the host's LLC.
fn perfd(args: &[&str], cache: &std::path::Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perfd"));
    cmd.args(args).env("PERFD_CACHE_DIR", cache);
    if args.first() == Some(&"bench") {
        cmd.args(["--bandwidth-mib", "48"]);
    }
    cmd.output().expect("run perfd")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `perfd ARGS` exits 64 (a usage error) and its message names `flag`.
fn assert_usage_error(args: &[&str], cache: &std::path::Path, flag: &str) {
    let o = perfd(args, cache);
    assert_eq!(o.status.code(), Some(64), "{args:?}: {}", stderr(&o));
    assert!(stderr(&o).contains(flag), "{args:?}: {}", stderr(&o));
}

/// The quickest model run: the tiny preset, 4 prompt and 4 decoded tokens, one repetition.
const QUICK_TINY: [&str; 8] = ["--preset", "tiny", "--pp", "4", "--tg", "4", "--reps", "1"];

/// `perfd bench --json ARGS`, which must succeed: its report.
fn bench_json(args: &[&str], cache: &std::path::Path) -> Value {
    let mut all = vec!["bench", "--json"];
    all.extend_from_slice(args);
    let o = perfd(&all, cache);
    assert!(o.status.success(), "{all:?}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("one JSON document")
}

/// `perfd bench --json --model FILE --pp 8 --tg 8 --reps 1 --crossval EXTRA`, which must succeed.
fn quick_crossval(file: &std::path::Path, cache: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec!["--model", file.to_str().unwrap()];
    args.extend(["--pp", "8", "--tg", "8", "--reps", "1", "--crossval"]);
    args.extend_from_slice(extra);
    bench_json(&args, cache)
}

/// `perfd model write --preset tiny --out FILE ARGS`, which must succeed: its stdout.
fn write_tiny(file: &std::path::Path, args: &[&str]) -> String {
    let mut all = vec!["model", "write", "--preset", "tiny", "--out"];
    all.push(file.to_str().unwrap());
    all.extend_from_slice(args);
    let o = perfd(&all, file.parent().unwrap());
    assert!(o.status.success(), "{all:?}: {}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn model_bench_on_a_synthetic_preset_reports_phases() {
    let cache = tempfile::tempdir().unwrap();
    let args = [
        "bench",
        "--preset",
        "tiny",
        "--pp",
        "16",
        "--tg",
        "128",
        "--reps",
        "3",
        "--json",
        "--crossval",
        "--crossval-steps",
        "8",
    ];
    let o = perfd(&args, cache.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(r["schema"], "bitnet-perfd/bench-report/v1");
    assert_eq!(r["suite"], "model");
    assert_eq!(r["model"]["preset"], "tiny");
    assert_eq!(r["model"]["layers"], 2);
    assert!(r["model"]["path"]
        .as_str()
        .unwrap()
        .starts_with(cache.path().to_str().unwrap()));
    let phases = r["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 2);
    for (p, tokens) in phases.iter().zip([16, 128]) {
        assert_eq!(p["tokens"], tokens);
        let tps = &p["tokens_per_second"];
        assert_eq!(tps["samples"].as_array().unwrap().len(), 3);
        assert!(tps["median"].as_f64().unwrap() > 0.0);
        assert!(tps["ci95"][0].as_f64().unwrap() <= tps["median"].as_f64().unwrap());
    }
    assert!(r["generation_128_seconds"]["median"].as_f64().unwrap() > 0.0);
    let roof = &r["decode_roofline"];
    assert!(roof["bytes_per_token"].as_u64().unwrap() > 0);
    assert!(roof["ratio"].as_f64().unwrap() > 0.0);
    let ops: Vec<&str> = r["decode_profile"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["op"].as_str().unwrap())
        .collect();
    assert!(ops.contains(&"lm_head") && ops.contains(&"qkv_proj"));
    let share: f64 = r["decode_profile"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["share"].as_f64().unwrap())
        .sum();
    assert!((share - 1.0).abs() < 1e-9);
    // Every decode operation says what it reads per token; together that is the roofline's
    // bytes (weights and the KV cache). A prompt token's share of a prefill has no rate.
    let op_bytes: u64 = r["decode_profile"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["bytes_per_token"].as_u64().expect("decode op bytes"))
        .sum();
    assert_eq!(op_bytes, roof["bytes_per_token"].as_u64().unwrap());
    assert!(r["prefill_profile"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o.get("bytes_per_token").is_none()));
    assert!(r["peak_rss_bytes"].as_u64().unwrap() > 0);
    let ids: Vec<&str> = r["kernel_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        ids.iter().any(|i| i.starts_with("i2s_gemv_"))
            && ids.iter().any(|i| i.starts_with("f16_gemv_"))
            && ids.iter().any(|i| i.starts_with("attention_f32_"))
    );
    assert_eq!(r["model_crossval"]["pass"], true);
    assert_eq!(r["model_crossval"]["tokens_identical"], true);
    assert_eq!(r["model_crossval"]["steps"], 8);
    assert!(
        r.get("kernels").is_none(),
        "no kernel section in the model suite"
    );

    // Second run reuses the cached file.
    let o = perfd(
        &[
            "bench",
            "--preset",
            "tiny",
            "--pp",
            "4",
            "--tg",
            "4",
            "--reps",
            "1",
            "--profile",
        ],
        cache.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(
        text.contains("decode") && text.contains("tokens/s") && text.contains("lm_head"),
        "{text}"
    );
    assert!(
        !stderr(&o).contains("writing synthetic"),
        "cache not reused: {}",
        stderr(&o)
    );
}

#[test]
fn model_write_then_bench_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.gguf");
    assert!(write_tiny(&file, &["--seed", "5"]).contains("bytes"));
    let path = file.to_str().unwrap();
    let r = bench_json(
        &["--model", path, "--pp", "8", "--tg", "8", "--reps", "1"],
        dir.path(),
    );
    assert!(r["model"].get("preset").is_none());
    assert!(r["model"]["name"].as_str().unwrap().contains("seed 5"));
}

/// `--arch bitnet` writes llama.cpp mainline's architecture name (SiLU FFN); perfd reads the file
/// back, cross-validates it and names the architecture in the report. TQ formats need rows of
/// whole 256-weight blocks, which the tiny preset's FFN (640) is not: a clean error.
#[test]
fn a_file_under_llama_cpps_architecture_name_is_written_and_benchmarked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("llama.gguf");
    let out = write_tiny(&file, &["--arch", "bitnet"]);
    assert!(out.contains("architecture bitnet"), "{out}");
    let written = bitnet_kernels::gguf::GgufFile::open(&file).unwrap();
    assert_eq!(written.get_str("general.architecture").unwrap(), "bitnet");
    assert!(written.get("bitnet.block_count").is_some());
    let r = quick_crossval(&file, dir.path(), &[]);
    assert_eq!(r["model"]["architecture"], "bitnet");
    assert_eq!(r["model_crossval"]["pass"], true, "{}", r["model_crossval"]);

    let bad_out = dir.path().join("x.gguf");
    let bad = bad_out.to_str().unwrap();
    for (args, flag, why) in [
        (["--ternary", "tq2_0"], "x.gguf", "256"),
        (["--ternary", "q2_k"], "--ternary", "q2_k"),
        (["--arch", "llama"], "--arch", "llama"),
    ] {
        let mut all = vec!["model", "write", "--preset", "tiny", "--out", bad];
        all.extend_from_slice(&args);
        let o = perfd(&all, dir.path());
        assert!(!o.status.success(), "{all:?}");
        let e = stderr(&o);
        assert!(e.contains(flag) && e.contains(why), "{all:?}: {e}");
    }
    assert!(!bad_out.exists());
}

/// The kernel ids of a JSON report.
fn kernel_ids(r: &Value) -> Vec<String> {
    r["kernel_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn quantised_embeddings_are_written_read_in_place_and_cross_validated() {
    let dir = tempfile::tempdir().unwrap();
    let f16_file = dir.path().join("f16.gguf");
    write_tiny(&f16_file, &[]);
    let f16_bytes = std::fs::metadata(&f16_file).unwrap().len();
    let mut last_bytes = f16_bytes;
    for (format, kernel, ty) in [
        ("q8_0", "q8_0_gemv_", "Q8_0"),
        ("q6_k", "q6_k_gemv_", "Q6_K"),
    ] {
        let file = dir.path().join(format!("{format}.gguf"));
        let out = write_tiny(&file, &["--embeddings", format]);
        assert!(out.contains(&format!("{format} embeddings")), "{out}");
        let g = bitnet_kernels::gguf::GgufFile::open(&file).unwrap();
        let t = g.tensor("token_embd.weight").unwrap();
        assert_eq!(t.ggml_type.to_string(), ty);
        drop(g);
        // Fewer bytes per weight: Q8_0 8.5 bits, Q6_K 6.56 (the ternary part is the same).
        let bytes = std::fs::metadata(&file).unwrap().len();
        assert!(
            bytes < last_bytes,
            "{format}: {bytes} bytes, before {last_bytes}"
        );
        last_bytes = bytes;
        let r = quick_crossval(&file, dir.path(), &["--crossval-steps", "8"]);
        let ids = kernel_ids(&r);
        assert!(
            ids.iter().any(|i| i.starts_with(kernel)),
            "{format}: {ids:?}"
        );
        assert_eq!(r["model_crossval"]["pass"], true, "{}", r["model_crossval"]);
        // The kernel check names the tiles its prompt-batch shapes ran on, where they did.
        let amx = r["params"].as_str().unwrap().contains("amx=true");
        let batch = &r["crossval"][0]["batch_check"];
        assert_eq!(
            batch.as_str(),
            amx.then_some("i2s_gemm_amx"),
            "{}",
            r["crossval"]
        );
        // The roofline counts the embedding as read: fewer bytes than the F16 file's.
        let read = r["decode_roofline"]["bytes_per_token"].as_u64().unwrap();
        assert!(read < f16_bytes, "{format}: {read} bytes per token");
    }
    // The preset cache keeps one file per format.
    let q6_k_tiny = [&QUICK_TINY[..], &["--embeddings", "q6_k"]].concat();
    let r = bench_json(&q6_k_tiny, dir.path());
    assert!(r["model"]["path"].as_str().unwrap().ends_with("-q6_k.gguf"));
    assert!(kernel_ids(&r).iter().any(|i| i.starts_with("q6_k_gemv_")));
    // Packed, a Q6_K lm_head is regrouped: the same bytes a token, its own kernel.
    let r = bench_json(
        &[
            &q6_k_tiny[..],
            &["--lm-head", "packed", "--compare-lm-head", "as-stored"],
        ]
        .concat(),
        dir.path(),
    );
    assert_eq!(r["model"]["lm_head_layout"], "q6_k-regrouped");
    let c = &r["comparison"];
    assert_eq!(c["model"]["lm_head_layout"], "q6_k");
    assert_eq!(
        r["decode_roofline"]["bytes_per_token"],
        c["decode_roofline"]["bytes_per_token"]
    );
    assert!(kernel_ids(&r)
        .iter()
        .any(|k| k.starts_with("q6_k_gemv_regrouped_")));
    assert!(kernel_ids(c)
        .iter()
        .all(|k| !k.starts_with("q6_k_gemv_regrouped_")));
    let bad_out = dir.path().join("x.gguf");
    for bad in [
        vec![
            "model",
            "write",
            "--preset",
            "tiny",
            "--out",
            bad_out.to_str().unwrap(),
            "--embeddings",
            "q4_0",
        ],
        vec!["bench", "--preset", "tiny", "--embeddings", "bf16"],
    ] {
        assert_usage_error(&bad, dir.path(), "--embeddings");
    }
    assert!(!bad_out.exists());
}

#[test]
fn a_second_model_is_measured_interleaved_and_reported_as_ratios() {
    let dir = tempfile::tempdir().unwrap();
    let r = bench_json(
        &[
            "--preset",
            "tiny",
            "--pp",
            "8",
            "--tg",
            "8",
            "--reps",
            "4",
            "--compare-embeddings",
            "q8_0",
        ],
        dir.path(),
    );
    let c = &r["comparison"];
    assert!(c["model"]["name"].as_str().unwrap().contains("Q8_0"));
    assert!(kernel_ids(&r).iter().any(|i| i.starts_with("f16_gemv_")));
    assert!(kernel_ids(c).iter().any(|i| i.starts_with("q8_0_gemv_")));
    let median = |phases: &Value, phase: &str| {
        let p = phases
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["phase"] == phase)
            .unwrap();
        assert_eq!(
            p["tokens_per_second"]["samples"].as_array().unwrap().len(),
            4
        );
        p["tokens_per_second"]["median"].as_f64().unwrap()
    };
    let samples = |phases: &Value, phase: &str| -> Vec<f64> {
        phases
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["phase"] == phase)
            .unwrap()["tokens_per_second"]["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    for phase in ["prefill", "decode"] {
        let r_of = c["ratios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["phase"] == phase)
            .unwrap();
        let ratio = r_of["ratio"].as_f64().unwrap();
        let want = median(&c["phases"], phase) / median(&r["phases"], phase);
        assert!((ratio - want).abs() < 1e-9, "{phase}");
        // Repetition i of one side against repetition i of the other, in order.
        let pairs: Vec<f64> = samples(&c["phases"], phase)
            .iter()
            .zip(samples(&r["phases"], phase))
            .map(|(a, b)| a / b)
            .collect();
        let got: Vec<f64> = r_of["per_pair"]["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        // (JSON numbers parse back within an ulp or so.)
        assert_eq!(got.len(), pairs.len(), "{phase}");
        for (g, p) in got.iter().zip(&pairs) {
            assert!(
                (g - p).abs() < 1e-12 * p.abs(),
                "{phase}: {got:?} vs {pairs:?}"
            );
        }
        let mut sorted = pairs.clone();
        sorted.sort_by(f64::total_cmp);
        let mid = (sorted[1] + sorted[2]) / 2.0;
        let median = r_of["per_pair"]["median"].as_f64().unwrap();
        assert!((median - mid).abs() < 1e-12 * mid, "{phase}");
    }
    // The candidate's roofline counts its own (smaller) embedding.
    let bytes = |rf: &Value| rf["bytes_per_token"].as_u64().unwrap();
    assert!(bytes(&c["decode_roofline"]) < bytes(&r["decode_roofline"]));
    // Its profile says where: the lm_head reads fewer bytes, the ternary projections the same.
    let op_bytes = |profile: &Value, op: &str| {
        profile
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["op"] == op)
            .unwrap()["bytes_per_token"]
            .as_u64()
            .unwrap()
    };
    let (mine, theirs) = (&r["decode_profile"], &c["decode_profile"]);
    assert!(op_bytes(theirs, "lm_head") < op_bytes(mine, "lm_head"));
    assert_eq!(op_bytes(theirs, "ffn_down"), op_bytes(mine, "ffn_down"));
    // A file works the same way; a missing one is an error naming it.
    let file = dir.path().join("q6.gguf");
    write_tiny(&file, &["--embeddings", "q6_k"]);
    let path = file.to_str().unwrap();
    let o = perfd(
        &[
            "bench",
            "--preset",
            "tiny",
            "--pp",
            "4",
            "--tg",
            "4",
            "--reps",
            "2",
            "--profile",
            "--compare-model",
            path,
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("the model above"), "{text}");
    assert!(
        text.contains("compared model's decode time per token"),
        "{text}"
    );
    // Both files were in memory: the peak RSS says so.
    assert!(text.contains("(both models loaded)"), "{text}");
    let missing = [
        "bench",
        "--preset",
        "tiny",
        "--compare-model",
        "/nonexistent.gguf",
    ];
    let o = perfd(&missing, dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("/nonexistent.gguf"), "{}", stderr(&o));
}

/// `--compare-params`: the same model under other kernel parameters, interleaved, named in the
/// report; `--weights` is reported with the model; bad values of either exit 64 naming the flag.
#[test]
fn other_kernel_parameters_are_measured_interleaved_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let r = bench_json(
        &[
            "--preset",
            "tiny",
            "--pp",
            "20",
            "--tg",
            "8",
            "--reps",
            "2",
            "--weights",
            "mapped",
            "--compare-params",
            "amx=false,row_tile=1",
        ],
        dir.path(),
    );
    let c = &r["comparison"];
    let params = c["params"].as_str().unwrap();
    // With the commas: `decode_row_tile=1` is the default on AMD hosts.
    assert!(
        params.contains("amx=false") && params.contains(",row_tile=1,"),
        "{params}"
    );
    assert!(!r["params"].as_str().unwrap().contains(",row_tile=1,"));
    assert_eq!(c["model"]["path"], r["model"]["path"]);
    assert_eq!(c["ratios"].as_array().unwrap().len(), 2);
    // A 20-token prompt goes to AMX tiles where the CPU has them, never with amx=false.
    let amx = r["params"].as_str().unwrap().contains("amx=true");
    assert_eq!(kernel_ids(&r).contains(&"i2s_gemm_amx".to_string()), amx);
    assert!(!kernel_ids(c).contains(&"i2s_gemm_amx".to_string()));
    assert_eq!(r["model"]["weights_placement"], "mapped");
    // Where prefill time goes, per operation, adding up to the whole.
    let ops = r["prefill_profile"].as_array().unwrap();
    assert!(ops.iter().any(|o| o["op"] == "ffn_gate_up"));
    let shares: f64 = ops.iter().map(|o| o["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 1e-6, "{shares}");

    let r = bench_json(
        &[&QUICK_TINY[..], &["--compare-weights", "mapped"]].concat(),
        dir.path(),
    );
    assert_eq!(r["model"]["weights_placement"], "huge-pages");
    // The same file, placed the other way, measured alongside.
    let c = &r["comparison"];
    assert_eq!(c["model"]["weights_placement"], "mapped");
    assert_eq!(c["model"]["path"], r["model"]["path"]);
    assert_eq!(c["ratios"].as_array().unwrap().len(), 2);
    if cfg!(target_os = "linux") {
        let huge = r["model"]["weights_huge_page_bytes"].as_u64().unwrap();
        assert!(huge <= r["model"]["file_bytes"].as_u64().unwrap());
    }

    // The ternary codes in lanes16 against trits16, the same file loaded twice.
    let r = bench_json(
        &[
            &QUICK_TINY[..],
            &["--layout", "lanes16", "--compare-layout", "trits16"],
        ]
        .concat(),
        dir.path(),
    );
    assert_eq!(r["model"]["weights_layout"], "lanes16");
    let c = &r["comparison"];
    assert_eq!(c["model"]["weights_layout"], "trits16");
    assert_eq!(c["model"]["path"], r["model"]["path"]);
    assert_eq!(c["ratios"].as_array().unwrap().len(), 2);

    // The lm_head packed against as stored: the same values in fewer bytes per token.
    let r = bench_json(
        &[
            &QUICK_TINY[..],
            &["--lm-head", "packed", "--compare-lm-head", "as-stored"],
        ]
        .concat(),
        dir.path(),
    );
    let packed = r["model"]["lm_head_layout"].as_str().unwrap();
    assert!(packed.starts_with("f16-packed"), "{packed}");
    let c = &r["comparison"];
    assert_eq!(c["model"]["lm_head_layout"], "f16");
    assert!(
        r["decode_roofline"]["bytes_per_token"].as_u64()
            < c["decode_roofline"]["bytes_per_token"].as_u64()
    );
    assert!(kernel_ids(&r)
        .iter()
        .any(|k| k.starts_with("f16_gemv_packed")));
    assert!(kernel_ids(c)
        .iter()
        .all(|k| !k.starts_with("f16_gemv_packed")));

    for (flag, value) in [
        ("--compare-params", "row_tile=3"),
        ("--weights", "nvme"),
        ("--compare-weights", "nvme"),
        ("--layout", "columns"),
        ("--compare-layout", "columns"),
        ("--lm-head", "zip"),
        ("--compare-lm-head", "zip"),
    ] {
        let o = perfd(&["bench", "--preset", "tiny", flag, value], dir.path());
        assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
        assert!(stderr(&o).contains(flag), "{}", stderr(&o));
    }
}

#[test]
fn decode_at_cache_depths_reports_each_against_its_own_roofline() {
    let cache = tempfile::tempdir().unwrap();
    let r = bench_json(
        &[
            "--preset", "tiny", "--pp", "8", "--tg", "16", "--reps", "2", "--ctx", "32,200",
        ],
        cache.path(),
    );
    let ctx = r["decode_at_context"].as_array().unwrap();
    assert_eq!(ctx.len(), 2);
    let weights = |rf: &Value| {
        rf["bytes_per_token"].as_u64().unwrap() - rf["kv_bytes_per_token"].as_u64().unwrap()
    };
    let main = &r["decode_roofline"];
    let mut last_kv = main["kv_bytes_per_token"].as_u64().unwrap();
    assert!(last_kv > 0);
    // Each repetition against the read pass that followed it: ratio_i = tps_i · bytes / read_i.
    let same_window = |rf: &Value, tps: &Value| {
        let w = &rf["same_window"];
        let samples = |v: &Value| -> Vec<f64> {
            v["samples"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        let (reads, ratios, tps) = (
            samples(&w["read_bytes_per_second"]),
            samples(&w["ratio"]),
            samples(tps),
        );
        assert_eq!(reads.len(), 2, "{w}");
        let bytes = rf["bytes_per_token"].as_f64().unwrap();
        for ((read, ratio), t) in reads.iter().zip(&ratios).zip(&tps) {
            assert!(*read > 0.0);
            assert!(
                (ratio - t * bytes / read).abs() <= 1e-9 * ratio.abs(),
                "{w}"
            );
        }
    };
    let decode = r["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phase"] == "decode")
        .unwrap();
    same_window(main, &decode["tokens_per_second"]);
    // Run-wide, every roofline divides by the run's best read pass: of the STREAM rounds and of
    // the passes between repetitions, at every depth.
    let floats = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let mut reads = floats(&r["memory_bandwidth"]["read"]["samples"]);
    reads.push(r["memory_bandwidth"]["read"]["median"].as_f64().unwrap());
    for rf in std::iter::once(main).chain(ctx.iter().map(|c| &c["roofline"])) {
        reads.extend(floats(
            &rf["same_window"]["read_bytes_per_second"]["samples"],
        ));
    }
    let best = reads.iter().copied().fold(0.0, f64::max);
    for rf in std::iter::once(main).chain(ctx.iter().map(|c| &c["roofline"])) {
        assert_eq!(rf["bandwidth"], "read");
        assert_eq!(
            rf["bandwidth_bytes_per_second"].as_f64().unwrap(),
            best,
            "{rf}"
        );
    }
    for (c, positions) in ctx.iter().zip([32, 200]) {
        same_window(&c["roofline"], &c["tokens_per_second"]);
        assert_eq!(c["positions"], positions);
        assert_eq!(c["tokens"], 16);
        let tps = &c["tokens_per_second"];
        assert_eq!(tps["samples"].as_array().unwrap().len(), 2);
        let rf = &c["roofline"];
        // Same weights, more KV bytes the deeper the cache; the ratio is of this context's roof.
        assert_eq!(weights(rf), weights(main));
        let kv = rf["kv_bytes_per_token"].as_u64().unwrap();
        assert!(kv > last_kv, "{positions}: {kv} <= {last_kv}");
        last_kv = kv;
        let want =
            tps["median"].as_f64().unwrap() / rf["roofline_tokens_per_second"].as_f64().unwrap();
        assert!((rf["ratio"].as_f64().unwrap() - want).abs() < 1e-9);
        // Its own profile: attention reads this depth's KV cache, the rest the same weights.
        let op_bytes: Vec<(String, u64)> = c["decode_profile"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                let op = o["op"].as_str().unwrap().to_string();
                (op, o["bytes_per_token"].as_u64().unwrap())
            })
            .collect();
        assert!(op_bytes.contains(&("rope_attention".to_string(), kv)));
        let total: u64 = op_bytes.iter().map(|(_, b)| b).sum();
        assert_eq!(total, rf["bytes_per_token"].as_u64().unwrap());
    }
    // Human output names each depth, and profiles it when asked.
    let o = perfd(
        &[&["bench"], &QUICK_TINY[..], &["--ctx", "100", "--profile"]].concat(),
        cache.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("from position 100"), "{text}");
    assert!(
        text.contains("decode time per token from position 100 by operation"),
        "{text}"
    );
    assert!(text.contains("same window: decode at"), "{text}");
    // Depths that do not fit the context (tiny: 256), zero and junk are usage errors.
    for bad in ["0", "250", "12,x"] {
        assert_usage_error(
            &[
                "bench", "--preset", "tiny", "--tg", "16", "--reps", "1", "--ctx", bad,
            ],
            cache.path(),
            "--ctx",
        );
    }
}

/// `--kv-cache f16`: the report names the cache, each decoded token reads half the KV bytes of
/// an f32 cache at the same depth (the roofline counts what is read), the cross-validation runs
/// the reference over the same cache; an unknown type is a usage error.
#[test]
fn an_f16_kv_cache_is_named_and_halves_the_kv_bytes_of_the_roofline() {
    let cache = tempfile::tempdir().unwrap();
    let run = |kv: &str| {
        bench_json(
            &[
                &QUICK_TINY[..],
                &["--ctx", "64", "--crossval", "--kv-cache", kv],
            ]
            .concat(),
            cache.path(),
        )
    };
    let (f32_run, f16_run) = (run("f32"), run("f16"));
    for (r, kv) in [(&f32_run, "f32"), (&f16_run, "f16")] {
        assert_eq!(r["model"]["kv_cache"], kv, "{}", r["model"]);
        assert_eq!(
            r["model_crossval"]["pass"], true,
            "{kv}: {}",
            r["model_crossval"]
        );
    }
    let kv_bytes = |r: &Value| {
        r["decode_at_context"][0]["roofline"]["kv_bytes_per_token"]
            .as_u64()
            .unwrap()
    };
    assert!(kv_bytes(&f16_run) > 0);
    assert_eq!(2 * kv_bytes(&f16_run), kv_bytes(&f32_run));
    let o = perfd(
        &[&["bench"], &QUICK_TINY[..], &["--kv-cache", "f16"]].concat(),
        cache.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("KV cache f16"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // Interleaved against the other cache type in one process: named on the compared side, half
    // the KV bytes per decoded token there.
    let long_prompt = [
        "--preset",
        "tiny",
        "--pp",
        "64",
        "--tg",
        "4",
        "--reps",
        "1",
        "--kv-cache",
        "f32",
        "--compare-kv-cache",
        "f16",
        "--ctx",
        "100",
    ];
    let r = bench_json(&long_prompt, cache.path());
    let c = &r["comparison"];
    assert_eq!(r["model"]["kv_cache"], "f32");
    assert_eq!(c["model"]["kv_cache"], "f16", "{c}");
    assert_eq!(c["model"]["path"], r["model"]["path"]);
    let kv = |rf: &Value| rf["kv_bytes_per_token"].as_u64().unwrap();
    assert_eq!(2 * kv(&c["decode_roofline"]), kv(&r["decode_roofline"]));
    assert!(c["ratios"].as_array().is_some_and(|a| a.len() == 2), "{c}");
    // Both caches at the --ctx depth too, repetitions interleaved there as well.
    let (ours, theirs) = (&r["decode_at_context"][0], &c["decode_at_context"][0]);
    assert_eq!(theirs["positions"], 100, "{c}");
    assert_eq!(2 * kv(&theirs["roofline"]), kv(&ours["roofline"]));
    let median = |d: &Value| d["tokens_per_second"]["median"].as_f64().unwrap();
    let ratio = theirs["ratio"].as_f64().unwrap();
    assert!((ratio - median(theirs) / median(ours)).abs() <= 1e-9 * ratio);
    let o = perfd(&[&["bench"], &long_prompt[..]].concat(), cache.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(", KV cache f16 ("), "{text}");
    assert!(text.contains("from position 100: "), "{text}");
    assert!(!text.contains("both models loaded"), "{text}");
    assert_usage_error(
        &[&["bench"], &QUICK_TINY[..], &["--kv-cache", "q4_0"]].concat(),
        cache.path(),
        "--kv-cache",
    );
    assert_usage_error(
        &[&["bench"], &QUICK_TINY[..], &["--compare-kv-cache", "f8"]].concat(),
        cache.path(),
        "--compare-kv-cache",
    );
}

#[test]
fn corrupt_model_file_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.gguf");
    write_tiny(&file, &[]);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&file, &bytes).unwrap();
    let o = perfd(
        &["bench", "--model", file.to_str().unwrap(), "--reps", "1"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("m.gguf") && err.contains("past the file"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    let o = perfd(&["bench", "--model", "/nonexistent.gguf"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("/nonexistent.gguf"));
    // Each cause once (the I/O error used to be printed by its wrapper and again as its source).
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    // Positions beyond the model's context.
    let o = perfd(
        &["bench", "--preset", "tiny", "--pp", "200", "--tg", "100"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
}

#[test]
fn a_fifo_or_device_as_the_model_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("model.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for path in [fifo.to_str().unwrap(), "/dev/null"] {
        // open(2) on a FIFO without a writer blocks forever: the run must not get that far.
        let mut child = Command::new(env!("CARGO_BIN_EXE_perfd"))
            .args(["bench", "--model", path, "--bandwidth-mib", "48"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("perfd bench --model {path} blocked");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert_eq!(status.code(), Some(1), "{path}: {err}");
        assert!(err.contains("not a regular file"), "{path}: {err}");
    }
}

#[test]
fn a_nan_in_the_embedding_is_refused_at_load_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nan.gguf");
    write_tiny(&file, &[]);
    let offset = {
        let g = bitnet_kernels::gguf::GgufFile::open(&file).unwrap();
        g.tensor("token_embd.weight").unwrap().offset as usize
    };
    let mut bytes = std::fs::read(&file).unwrap();
    // F16 NaN (0x7E00), little-endian, at element 7.
    bytes[offset + 14] = 0x00;
    bytes[offset + 15] = 0x7E;
    std::fs::write(&file, bytes).unwrap();
    let o = perfd(
        &[
            "bench",
            "--model",
            file.to_str().unwrap(),
            "--pp",
            "4",
            "--tg",
            "4",
            "--reps",
            "1",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("token_embd.weight") && err.contains("value 7 is not finite"),
        "{err}"
    );
}

/// bitnet.cpp's own quantiser output (`../shared/fixtures/bitnetcpp/`): the keys its loader needs.
fn bitnetcpp_fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/bitnetcpp/tiny-s1001.i2_s.gguf")
}

#[test]
fn written_models_carry_every_key_the_cpp_loaders_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.gguf");
    write_tiny(&file, &[]);
    let ours = bitnet_kernels::gguf::GgufFile::open(&file).unwrap();
    let theirs = bitnet_kernels::gguf::GgufFile::open(&bitnetcpp_fixture())
        .expect("the bitnet.cpp fixture is in ../shared/fixtures/bitnetcpp");
    for (key, value) in theirs.metadata() {
        // Free text and the fixture generator's own keys are not read by any loader.
        if key == "general.name" || key.starts_with("synthetic.") {
            continue;
        }
        let mine = ours
            .get(key)
            .unwrap_or_else(|| panic!("perfd's file lacks `{key}` (bitnet.cpp has {value})"));
        assert_eq!(
            mine.type_id(),
            value.type_id(),
            "`{key}`: {mine} vs {value}"
        );
    }
    for key in [
        "general.file_type",
        "general.quantization_version",
        "tokenizer.ggml.model",
    ] {
        assert_eq!(ours.get(key), theirs.get(key), "`{key}`");
    }
    // The same, read back by the `gguf` PyPI package (independent of perfd's reader).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let py = |f: &std::path::Path| -> Value {
        let o = Command::new(root.join(".venv/bin/python"))
            .arg(root.join("tests/python/loader_keys.py"))
            .arg(f)
            .output()
            .expect("run the venv's python (scripts/setup.sh --test)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let (mine, cpp) = (py(&file), py(&bitnetcpp_fixture()));
    for (key, typed) in cpp.as_object().unwrap() {
        if key == "general.name" || key.starts_with("synthetic.") {
            continue;
        }
        assert_eq!(
            mine[key][0], typed[0],
            "`{key}` type, as the gguf package reads it"
        );
    }
    for key in [
        "general.file_type",
        "general.quantization_version",
        "tokenizer.ggml.model",
        "general.architecture",
    ] {
        assert_eq!(mine[key], cpp[key], "`{key}`, as the gguf package reads it");
    }
}
