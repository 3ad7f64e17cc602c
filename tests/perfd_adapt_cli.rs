//! End-to-end: `perfd adapt llama-bench` on a fake llama-bench (`tests/fixtures/fake-llama-bench.sh`)
//! that prints real llama-bench output of bitnet.cpp and llama.cpp (`../shared/fixtures/llama-bench/`):
//! a report the daemon accepts for each, a clear error for each kind of failure, and the daemon
//! tracking a repository whose harness is the adapter.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use common::{fixture_repo, git, start};

/// A short model benchmark on the tiny preset.
const QUICK: [&str; 8] = ["--preset", "tiny", "--pp", "4", "--tg", "4", "--reps", "1"];

/// llama-bench `-o json` output: bitnet.cpp (two dates) and llama.cpp.
const FIXTURES: [&str; 3] = [
    "bitnetcpp-2025-05-i2_s.json",
    "bitnetcpp-2026-03-i2_s.json",
    "llamacpp-2026-10-tq2_0.json",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/llama-bench")
        .join(name)
}

fn fake_llama_bench() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake-llama-bench.sh")
}

/// `perfd adapt llama-bench --bandwidth-mib 48 -- sh fake-llama-bench.sh FAKE_ARGS...`.
fn adapt(fake_args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_perfd"))
        .args(["adapt", "llama-bench", "--bandwidth-mib", "48", "--", "sh"])
        .arg(fake_llama_bench())
        .args(fake_args)
        .output()
        .expect("run perfd")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
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

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn each_sample_output_becomes_a_report_the_daemon_accepts() {
    for name in FIXTURES {
        let path = fixture(name);
        let rows: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let o = adapt(&[
            path.to_str().unwrap(),
            "-m",
            "model.gguf",
            "-p",
            "128",
            "-n",
            "128",
        ]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        // The daemon's own reader accepts it: schema, phases, positive figures.
        let report = perfd::runner::harness::parse_report(&o.stdout)
            .unwrap_or_else(|e| panic!("{name}: daemon refuses the report: {e}"));
        let r: Value = serde_json::from_slice(&o.stdout).expect("stdout is one JSON document");
        assert_eq!(r["schema"], "bitnet-perfd/bench-report/v1");
        assert_eq!(r["suite"], "model");
        assert_eq!(r["commit"], "unknown", "{name}: llama-bench's build_commit");
        assert!(r["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert!(r["host"]["id"].as_str().is_some_and(|id| id.len() == 12));

        let phases = r["phases"].as_array().unwrap();
        let names: Vec<&str> = phases
            .iter()
            .map(|p| p["phase"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["prefill", "decode"], "{name}");
        for (phase, row) in phases.iter().zip(rows.as_array().unwrap()) {
            let ts = floats(&row["samples_ts"]);
            assert_eq!(phase["tokens"], 128);
            assert_eq!(floats(&phase["tokens_per_second"]["samples"]), ts);
            assert_eq!(
                phase["tokens_per_second"]["median"].as_f64().unwrap(),
                median(ts),
                "{name}: {}",
                phase["phase"]
            );
            let seconds = median(floats(&row["samples_ns"])) / 1e9;
            assert!((phase["seconds"]["median"].as_f64().unwrap() - seconds).abs() < 1e-12);
        }
        let decode_median = median(floats(&rows[1]["samples_ts"]));
        assert_eq!(
            report.phase_tps(&perfd::report::Phase::Decode),
            Some(decode_median)
        );
        assert_eq!(
            report.phase_tps(&perfd::report::Phase::Prefill),
            Some(median(floats(&rows[0]["samples_ts"])))
        );

        // STREAM measured in the same process, at llama-bench's thread count.
        let bw = &r["memory_bandwidth"];
        assert_eq!(bw["threads"], rows[0]["n_threads"]);
        assert!(bw["read"]["median"].as_f64().unwrap() > 1e8);
        assert_eq!(
            bw["read"]["samples"].as_array().unwrap().len(),
            12,
            "two rounds of six"
        );
        let rf = &r["decode_roofline"];
        assert_eq!(rf["bandwidth"], "read", "{name}");
        assert_eq!(rf["bytes_per_token"], rows[0]["model_size"]);
        let roof = rf["roofline_tokens_per_second"].as_f64().unwrap();
        assert!(roof > 0.0);
        assert!((rf["ratio"].as_f64().unwrap() - decode_median / roof).abs() < 1e-9);
        assert!(r["generation_128_seconds"]["median"].as_f64().unwrap() > 0.0);

        let m = &r["model"];
        assert_eq!(m["path"], rows[0]["model_filename"]);
        assert_eq!(m["name"], rows[0]["model_type"]);
        assert!(m.get("layers").is_none(), "{name}: no invented shape");
        let params = r["params"].as_str().unwrap();
        assert!(
            params.starts_with("n_threads=2,n_batch=2048,n_ubatch=512,"),
            "{params}"
        );
        assert!(params.contains("build_commit=unknown"), "{params}");
        assert_eq!(
            r["kernel_ids"][0].as_str().unwrap(),
            format!(
                "llama-bench:CPU:{}",
                rows[0]["model_type"].as_str().unwrap()
            )
        );
        assert!(r["noise"]["noisy"].is_boolean());
        assert!(r["tools"]["perfd"].is_string());
    }
}

/// Where the model file is readable, the roofline's bytes per token come from its tensor table,
/// not from llama-bench's `model_size` (bitnet.cpp counts its I2_S tensors as 1.84 GB in a
/// 1.18 GB file); the KV cache type llama-bench used is reported.
#[test]
fn a_readable_model_file_gives_the_roofline_its_own_tensor_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.gguf");
    let o = Command::new(env!("CARGO_BIN_EXE_perfd"))
        .args(["model", "write", "--preset", "tiny", "--out"])
        .arg(&model)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let mut rows: Value =
        serde_json::from_slice(&std::fs::read(fixture(FIXTURES[1])).unwrap()).unwrap();
    for row in rows.as_array_mut().unwrap() {
        row["model_filename"] = model.to_str().unwrap().into();
        row["model_size"] = 9_999_999_999u64.into();
    }
    let out = dir.path().join("rows.json");
    std::fs::write(&out, serde_json::to_vec(&rows).unwrap()).unwrap();
    let o = adapt(&[out.to_str().unwrap(), "-p", "128", "-n", "128"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();

    let file = bitnet_kernels::gguf::GgufFile::open(&model).unwrap();
    let embd = file.tensor("token_embd.weight").unwrap();
    let others: u64 = file
        .tensors()
        .iter()
        .filter(|t| t.name != "token_embd.weight")
        .map(|t| t.size)
        .sum();
    // Tied (no output.weight): the table in full for the lm_head, one row for the lookup.
    assert!(file.tensor("output.weight").is_err());
    let want = others + embd.size + embd.size / embd.dims[1];
    assert_eq!(r["decode_roofline"]["bytes_per_token"], want);
    // perfd's own forward pass counts the same bytes for this file, but for the 32-byte tail of
    // each I2_S tensor (its scale and padding), which the file's sizes include.
    let own = bitnet_kernels::model::BitnetModel::load(&model).unwrap();
    let i2s = file
        .tensors()
        .iter()
        .filter(|t| t.ggml_type == bitnet_kernels::gguf::GgmlType::I2S)
        .count() as u64;
    assert!(i2s > 0);
    assert_eq!(own.decode_weight_bytes() + 32 * i2s, want);
    assert_eq!(r["model"]["kv_cache"], rows[0]["type_k"]);
}

#[test]
fn an_empty_result_list_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "[]\n").unwrap();
    let o = adapt(&[empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "no report on failure");
    let e = stderr(&o);
    assert!(
        e.contains("no results") && e.contains("llama-bench command"),
        "{e}"
    );
}

#[test]
fn malformed_output_is_an_error_naming_json() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.txt");
    std::fs::write(
        &garbage,
        "| model | size | params | backend | threads | test | t/s |\n",
    )
    .unwrap();
    let o = adapt(&[garbage.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    let e = stderr(&o);
    assert!(e.contains("perfd: error:") && e.contains("JSON"), "{e}");

    // A result without the fields perfd maps: named, with its position.
    let partial = dir.path().join("partial.json");
    std::fs::write(
        &partial,
        r#"[{"model_filename": "m.gguf", "model_type": "x", "n_threads": 2}]"#,
    )
    .unwrap();
    let o = adapt(&[partial.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("result 0") && e.contains("n_prompt"), "{e}");
}

#[test]
fn a_failing_llama_bench_is_an_error_naming_its_status_and_message() {
    let o = adapt(&[
        "--exit",
        "3",
        "error: failed to load model 'models/missing.gguf'",
        "-m",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    let e = stderr(&o);
    // llama-bench's stderr is passed through, and the error line names the command's end.
    assert!(e.contains("llama_model_loader"), "{e}");
    let last = e.lines().next_back().unwrap();
    assert!(
        last.contains("exited with status 3")
            && last.contains("failed to load model 'models/missing.gguf'")
            && last.contains("fake-llama-bench.sh"),
        "{last}"
    );
}

#[test]
fn a_missing_program_or_another_output_format_is_refused() {
    let o = Command::new(env!("CARGO_BIN_EXE_perfd"))
        .args(["adapt", "llama-bench", "--bandwidth-mib", "48", "--"])
        .args(["/nonexistent/llama-bench", "-m", "x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot start `/nonexistent/llama-bench`"),
        "{}",
        stderr(&o)
    );

    let o = adapt(&[fixture(FIXTURES[0]).to_str().unwrap(), "-o", "md"]);
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    assert!(stderr(&o).contains("-o md"), "{}", stderr(&o));

    let o = Command::new(env!("CARGO_BIN_EXE_perfd"))
        .args(["adapt", "llama-bench"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(64), "the command is required");
}

/// The harness of the tracked repository, less the fake's arguments: the adapter over the fake
/// llama-bench committed beside it (PERFD_BIN is set by `start`).
const ADAPT: &str =
    "exec \"$PERFD_BIN\" adapt llama-bench --bandwidth-mib 48 -- sh fake-llama-bench.sh";

/// An executable llama-bench at `dir/name` that logs its arguments to `dir/name.log` and runs
/// the fake with `fake_args` first.
fn logging_llama_bench(dir: &Path, name: &str, fake_args: &[String]) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let program = dir.join(name);
    let log = dir.join(format!("{name}.log"));
    let quoted: Vec<String> = fake_args.iter().map(|a| format!("'{a}'")).collect();
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nexec sh '{}' {} \"$@\"\n",
            log.display(),
            fake_llama_bench().display(),
            quoted.join(" ")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    (program, log)
}

/// `perfd bench --compare-llama-bench`: the peer runs once per repetition on perfd's own model
/// file with perfd's lengths and thread count; its samples pool into `peer`, with perfd's ÷ the
/// peer's median tokens/s per phase. A failing peer fails the benchmark, naming its command.
#[test]
fn bench_runs_a_llama_bench_peer_between_its_repetitions() {
    let dir = tempfile::tempdir().unwrap();
    let fixture_file = fixture("llamacpp-2026-10-tq2_0.json");
    let (program, log) = logging_llama_bench(
        dir.path(),
        "llama-bench",
        &[fixture_file.display().to_string()],
    );
    let bench = |program: &Path| {
        Command::new(env!("CARGO_BIN_EXE_perfd"))
            .args(["bench", "--preset", "tiny", "--cache-dir"])
            .arg(dir.path())
            .args([
                "--pp",
                "128",
                "--tg",
                "128",
                "--reps",
                "3",
                "--params",
                "threads=2",
            ])
            .args(["--bandwidth-mib", "48", "--json", "--compare-llama-bench"])
            .arg(program)
            .output()
            .expect("run perfd")
    };
    let o = bench(&program);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let calls = std::fs::read_to_string(&log).unwrap();
    let model = r["model"]["path"].as_str().unwrap();
    // perfd's default cache is F16, and the peer is asked for the same.
    let expected = format!("-m {model} -p 128 -n 128 -t 2 -r 1 -o json -ctk f16 -ctv f16");
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        vec![expected.as_str(); 3]
    );

    let peer = &r["peer"];
    assert_eq!(peer["commit"], "unknown");
    assert!(peer["command"].as_str().unwrap().ends_with(&expected));
    let results: Value = serde_json::from_slice(&std::fs::read(&fixture_file).unwrap()).unwrap();
    for (i, name) in ["prefill", "decode"].into_iter().enumerate() {
        let theirs = &peer["phases"][i];
        assert_eq!(theirs["phase"], name);
        // Three runs of a fake that prints the same five samples each time.
        let samples = floats(&theirs["tokens_per_second"]["samples"]);
        assert_eq!(samples.len(), 15, "{name}");
        let want = median(floats(&results[i]["samples_ts"]));
        let got = theirs["tokens_per_second"]["median"].as_f64().unwrap();
        assert!((got - want).abs() <= 1e-3 * want, "{name}: {got} vs {want}");
        let ours = r["phases"][i]["tokens_per_second"]["median"]
            .as_f64()
            .unwrap();
        let ratio = peer["ratios"][i]["ratio"].as_f64().unwrap();
        assert_eq!(peer["ratios"][i]["phase"], name);
        assert!(
            (ratio - ours / got).abs() <= 1e-9 * ratio,
            "{name}: {ratio}"
        );
    }

    // Five decode samples a run cannot pair with perfd's one a repetition: no per-read ratio.
    assert!(peer["decode_per_read"].is_null(), "{peer}");

    let (failing, _) = logging_llama_bench(
        dir.path(),
        "failing-llama-bench",
        &["--exit".into(), "3".into(), "model load failed".into()],
    );
    let o = bench(&failing);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("failing-llama-bench")
            && e.contains("exited with status 3")
            && e.contains("model load failed"),
        "{e}"
    );
}

/// A peer run with one sample a phase, as `-r 1` gives: each pair's decode ratio with both sides
/// per byte/s of the read pass right after them, from the report's own samples and reads.
#[test]
fn the_peers_decode_is_also_compared_per_read_of_its_own_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows: Value =
        serde_json::from_slice(&std::fs::read(fixture("llamacpp-2026-10-tq2_0.json")).unwrap())
            .unwrap();
    for row in rows.as_array_mut().unwrap() {
        for key in ["samples_ts", "samples_ns"] {
            let first = row[key][0].clone();
            row[key] = Value::Array(vec![first]);
        }
    }
    let one_sample = dir.path().join("one-sample.json");
    std::fs::write(&one_sample, rows.to_string()).unwrap();
    let (program, _) = logging_llama_bench(
        dir.path(),
        "llama-bench",
        &[one_sample.display().to_string()],
    );
    let o = Command::new(env!("CARGO_BIN_EXE_perfd"))
        .args(["bench", "--preset", "tiny", "--cache-dir"])
        .arg(dir.path())
        .args(["--pp", "128", "--tg", "128", "--reps", "3"])
        .args(["--params", "threads=2", "--bandwidth-mib", "48", "--json"])
        .arg("--compare-llama-bench")
        .arg(&program)
        .output()
        .expect("run perfd");
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let peer = &r["peer"];
    let ours = floats(&r["phases"][1]["tokens_per_second"]["samples"]);
    let our_reads =
        floats(&r["decode_roofline"]["same_window"]["read_bytes_per_second"]["samples"]);
    let theirs = floats(&peer["phases"][1]["tokens_per_second"]["samples"]);
    let their_reads = floats(&peer["decode_window_read"]["samples"]);
    let per_read = floats(&peer["decode_per_read"]["samples"]);
    assert_eq!(
        [
            ours.len(),
            our_reads.len(),
            theirs.len(),
            their_reads.len(),
            per_read.len()
        ],
        [3; 5],
        "{peer}"
    );
    for i in 0..3 {
        assert!(
            their_reads[i] > 1e8,
            "a read pass after run {i}: {}",
            their_reads[i]
        );
        let want = (ours[i] / our_reads[i]) / (theirs[i] / their_reads[i]);
        assert!(
            (per_read[i] - want).abs() <= 1e-9 * want,
            "pair {i}: {} vs {want}",
            per_read[i]
        );
    }
}

/// With `--ctx`, the peer also decodes after each depth (llama-bench `-d`, `-p 0`), its runs
/// between perfd's repetitions at that depth; `peer.decode_at_context` holds its samples and
/// perfd's ÷ its median. A run at another depth than asked for fails the benchmark.
#[test]
fn bench_runs_the_peer_at_each_context_depth_too() {
    use std::os::unix::fs::PermissionsExt;
    const DEPTH: u64 = 100;
    let dir = tempfile::tempdir().unwrap();
    let fixture_file = fixture("llamacpp-2026-10-tq2_0.json");
    let rows: Value = serde_json::from_slice(&std::fs::read(&fixture_file).unwrap()).unwrap();
    // The fixture's decode row at depth DEPTH, half as fast; and one claiming no depth.
    let at_depth = |n_depth: u64| {
        let mut row = rows[1].clone();
        row["n_depth"] = n_depth.into();
        let ts: Vec<f64> = floats(&row["samples_ts"]).iter().map(|t| t / 2.0).collect();
        let ns: Vec<f64> = floats(&row["samples_ns"]).iter().map(|n| n * 2.0).collect();
        row["samples_ts"] = ts.into();
        row["samples_ns"] = ns.into();
        let path = dir.path().join(format!("depth-{n_depth}.json"));
        std::fs::write(&path, Value::Array(vec![row]).to_string()).unwrap();
        path
    };
    let (deep, shallow) = (at_depth(DEPTH), at_depth(0));
    let program = |name: &str, depth_file: &Path, fake_flags: &str| {
        let program = dir.path().join(name);
        let log = dir.path().join(format!("{name}.log"));
        std::fs::write(
            &program,
            format!(
                "#!/bin/sh\necho \"$@\" >> '{log}'\ncase \" $* \" in\n  *\" -d \"*) out='{deep}' ;;\n  *) out='{base}' ;;\nesac\nexec sh '{fake}' {fake_flags} \"$out\" \"$@\"\n",
                log = log.display(),
                deep = depth_file.display(),
                base = fixture_file.display(),
                fake = fake_llama_bench().display(),
            ),
        )
        .unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        (program, log)
    };
    let bench = |program: &Path| {
        Command::new(env!("CARGO_BIN_EXE_perfd"))
            .args(["bench", "--preset", "tiny", "--cache-dir"])
            .arg(dir.path())
            .args(["--pp", "128", "--tg", "128", "--reps", "3"])
            .args(["--params", "threads=2", "--ctx", &DEPTH.to_string()])
            .args(["--kv-cache", "f32"])
            .args(["--bandwidth-mib", "48", "--json", "--compare-llama-bench"])
            .arg(program)
            .output()
            .expect("run perfd")
    };
    let (good, log) = program("llama-bench", &deep, "");
    let o = bench(&good);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let model = r["model"]["path"].as_str().unwrap();
    let base = format!("-m {model} -p 128 -n 128 -t 2 -r 1 -o json");
    let depth = format!("-m {model} -p 0 -n 128 -t 2 -r 1 -o json -d {DEPTH}");
    let calls = std::fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    // First the usage text is read for -d, before anything is measured.
    assert_eq!(calls[0], "--help");
    assert_eq!(calls[1..4], [base.as_str(); 3]);
    assert_eq!(calls[4..], [depth.as_str(); 3]);

    let peer = &r["peer"];
    // llama-bench has no f32 cache: it keeps its F16 default, and the report says so.
    assert_eq!(peer["kv_cache"], "f16");
    assert_eq!(r["model"]["kv_cache"], "f32");
    let theirs = &peer["decode_at_context"][0];
    assert_eq!(theirs["positions"], DEPTH);
    assert!(theirs["command"].as_str().unwrap().ends_with(&depth));
    let samples = floats(&theirs["decode"]["tokens_per_second"]["samples"]);
    assert_eq!(samples.len(), 15, "three runs of five samples");
    let want = median(floats(&rows[1]["samples_ts"])) / 2.0;
    let got = theirs["decode"]["tokens_per_second"]["median"]
        .as_f64()
        .unwrap();
    assert!((got - want).abs() <= 1e-3 * want, "{got} vs {want}");
    let ours = r["decode_at_context"][0]["tokens_per_second"]["median"]
        .as_f64()
        .unwrap();
    let ratio = theirs["ratio"].as_f64().unwrap();
    assert!((ratio - ours / got).abs() <= 1e-9 * ratio, "{ratio}");

    // The benchmark with `program` fails; its stderr.
    let refused = |program: &Path| {
        let o = bench(program);
        assert!(!o.status.success());
        stderr(&o)
    };
    // A llama-bench without -d (bitnet.cpp's) is refused before the first measurement.
    let (old_build, log) = program("old-llama-bench", &deep, "--no-depth");
    let e = refused(&old_build);
    assert!(
        e.contains("cannot decode after a cache depth") && e.contains("-d/--n-depth"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "--help\n");

    let (wrong, _) = program("shallow-llama-bench", &shallow, "");
    let e = refused(&wrong);
    assert!(
        e.contains("context 100") && e.contains("after 0 cached positions"),
        "{e}"
    );
}

/// Runs `command` to its end, or fails the test after `limit` (killing it): a guard against a
/// hang, far above what the command needs on a busy machine.
fn output_within(mut command: Command, limit: std::time::Duration) -> Output {
    use std::process::Stdio;
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run perfd");
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

/// A peer that never finishes is killed after `--peer-timeout` and fails the benchmark, naming
/// its command and the limit; `perfd adapt --timeout` does the same for the adapter.
#[test]
fn a_hung_llama_bench_is_killed_after_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (program, log) = logging_llama_bench(dir.path(), "hung-llama-bench", &["--hang".into()]);
    let mut bench = Command::new(env!("CARGO_BIN_EXE_perfd"));
    bench
        .args(["bench", "--cache-dir"])
        .arg(dir.path())
        .args(QUICK)
        .args(["--bandwidth-mib", "48", "--peer-timeout", "1"])
        .arg("--compare-llama-bench")
        .arg(&program);
    let o = output_within(bench, std::time::Duration::from_secs(300));
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("hung-llama-bench") && e.contains("did not finish within 1 s"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1);

    let mut adapt = Command::new(env!("CARGO_BIN_EXE_perfd"));
    adapt
        .args([
            "adapt",
            "llama-bench",
            "--bandwidth-mib",
            "48",
            "--timeout",
            "1",
        ])
        .args(["--", "sh"])
        .arg(fake_llama_bench())
        .arg("--hang");
    let o = output_within(adapt, std::time::Duration::from_secs(300));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("did not finish within 1 s"),
        "{}",
        stderr(&o)
    );
}

fn repository_config(repo: &Path) -> String {
    format!(
        "[schedule]\ninterval_secs = 1\nrebench_interval_secs = 0\n\n[repository]\nurl = \"{}\"\nbranch = \"main\"\nbuild_command = \"true\"\nharness_command = \"sh bench.sh\"\nharness_timeout_secs = 120\n\n[noise]\nmax_retries = 0\nlimit_cores = 64.0\n",
        repo.display()
    )
}

#[test]
fn the_daemon_tracks_an_engine_through_the_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let harness = format!("{ADAPT} llama-bench.json -t 2\n");
    let repo = fixture_repo(dir.path(), &harness);
    std::fs::copy(fake_llama_bench(), repo.join("fake-llama-bench.sh")).unwrap();
    std::fs::copy(fixture(FIXTURES[1]), repo.join("llama-bench.json")).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "engine with llama-bench"]);
    let good = git(&repo, &["rev-parse", "HEAD"]);

    let d = start(dir.path(), &repository_config(&repo));
    let runs = d.wait_runs(300, "the adapted run", |r| {
        r.iter().any(|x| x["commit"] == good.as_str())
    });
    let run = runs.iter().find(|x| x["commit"] == good.as_str()).unwrap();
    assert_eq!(run["status"], "success", "{run:#}\n{}", d.log());
    let rows: Value =
        serde_json::from_slice(&std::fs::read(fixture(FIXTURES[1])).unwrap()).unwrap();
    assert_eq!(
        run["decode_tps"].as_f64().unwrap(),
        median(floats(&rows[1]["samples_ts"]))
    );
    assert_eq!(
        run["prefill_tps"].as_f64().unwrap(),
        median(floats(&rows[0]["samples_ts"]))
    );
    let (status, _, body) = d.get(&format!("/api/v1/runs/{}", run["id"]));
    assert_eq!(status, 200, "{body}");
    let stored: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stored["report"]["decode_roofline"]["bandwidth"], "read");

    // The engine breaks: llama-bench fails, and the run is stored as a failure with its reason.
    std::fs::write(
        repo.join("bench.sh"),
        format!("{ADAPT} --exit 3 'error: failed to load model' -t 2\n"),
    )
    .unwrap();
    git(&repo, &["commit", "-q", "-am", "break the engine"]);
    let bad = git(&repo, &["rev-parse", "HEAD"]);
    let runs = d.wait_runs(300, "the failed adapted run", |r| {
        r.iter()
            .any(|x| x["commit"] == bad.as_str() && x["status"] == "harness_failed")
    });
    let run = runs.iter().find(|x| x["commit"] == bad.as_str()).unwrap();
    let reason = run["reason"].as_str().unwrap();
    assert!(
        reason.contains("exited with status 3") && reason.contains("failed to load model"),
        "{reason}"
    );
    assert!(d.stop(30).success());
}
