//! `perfd tune`: a tuning job by hand (the daemon runs the same command as a child). Opens the
//! history store of the state directory (resumable measurements, adopted profiles), loads the
//! model, runs the job and records it; `--compare-exhaustive` measures the search's efficiency.

use bitnet_kernels::gguf::Placement;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use bitnet_kernels::format::embedding::EmbeddingFormat;
use bitnet_kernels::model::BitnetModel;
use bitnet_kernels::{I2sGemm, KernelConfig};

use super::tune_exhaustive;
use crate::cli::TuneArgs;
use crate::clock::unix_now;
use crate::harness::host::HostFingerprint;
use crate::harness::model_cache::load_named;
use crate::harness::support::{progress, timestamp};
use crate::store::{NewTuningJob, Store};
use crate::tuner::harness_probe::{HarnessProbe, HarnessRunner};
use crate::tuner::profile::{file_name, model_key};
use crate::tuner::search::Progress;
use crate::tuner::store_memory::{scope, StoreMemory};
use crate::tuner::{
    job, Candidate, EngineProbe, JobSpec, Objective, Probe, TuneReport, TuneSpace, TunedProfile,
    TUNE_SCHEMA,
};
use crate::UsageError;

/// The state directory of the arguments: `--state-dir`, else the configuration's.
fn state_dir(args: &TuneArgs) -> Result<PathBuf> {
    if let Some(d) = &args.state_dir {
        return Ok(d.clone());
    }
    let path = super::run::config_path(args.config.as_deref());
    Ok(super::run::load_config(path.as_deref())?.state_dir())
}

fn check_args(args: &TuneArgs) -> Result<Objective> {
    let objective: Objective = args
        .objective
        .parse()
        .map_err(|e| UsageError(format!("--objective: {e}")))?;
    if args.budget_secs == 0 || args.budget_secs > crate::config::MAX_DURATION_SECS {
        bail!(UsageError(format!(
            "--budget-secs must be in 1..={}",
            crate::config::MAX_DURATION_SECS
        )));
    }
    if args.max_evals < 2 {
        bail!(UsageError("--max-evals must be at least 2".into()));
    }
    if !(0.0..1.0).contains(&args.min_gain) {
        bail!(UsageError("--min-gain must be in [0, 1)".into()));
    }
    if !(args.alpha > 0.0 && args.alpha < 0.5) {
        bail!(UsageError("--alpha must be in (0, 0.5)".into()));
    }
    if args.adoption_pairs < 3 || args.crossval_steps == 0 {
        bail!(UsageError(
            "--adoption-pairs must be at least 3 and --crossval-steps at least 1".into()
        ));
    }
    Ok(objective)
}

/// The probe and space of a harness: the space from `--space`, else asked from the harness.
fn harness_probe(
    args: &TuneArgs,
    dir: &Path,
    command: &str,
    objective: Objective,
) -> Result<(HarnessProbe, TuneSpace)> {
    let cwd = match &args.harness_cwd {
        Some(d) => d.clone(),
        None => std::env::current_dir().context("the current directory")?,
    };
    let timeout = Duration::from_secs(args.harness_timeout_secs.max(1));
    let logs = crate::state_dir::logs(dir);
    std::fs::create_dir_all(&logs).with_context(|| format!("create {}", logs.display()))?;
    let log = logs.join(format!("tune-harness-{}.log", unix_now() as u64));
    let mut runner = HarnessRunner::new(command.to_string(), cwd, timeout, log)?;
    let space = match &args.space {
        Some(text) => parse_space(text)?,
        None => {
            let listed = runner
                .stdout("", &[("PERFD_LIST_PARAMS", "1")])
                .context("ask the harness for its parameter space (PERFD_LIST_PARAMS=1)")?;
            TuneSpace::from_list_params_json(&listed).map_err(anyhow::Error::msg)?
        }
    };
    let probe = HarnessProbe::new(runner, objective, space.clone())?;
    Ok((probe, space))
}

/// Parses `name=v1|v2;name=v1|v2`.
fn parse_space(text: &str) -> Result<TuneSpace> {
    let mut declared = std::collections::BTreeMap::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, values) = part
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--space: `{part}` is not name=v1|v2")))?;
        let values: Vec<String> = values.split('|').map(|v| v.trim().to_string()).collect();
        if values.iter().any(String::is_empty) {
            bail!(UsageError(format!("--space: `{part}` has an empty value")));
        }
        declared.insert(name.trim().to_string(), values);
    }
    if declared.is_empty() {
        bail!(UsageError("--space declares no parameter".into()));
    }
    Ok(TuneSpace::declared(&declared))
}

/// The model in the layout the current profile's kernels read: candidates of the other layout
/// run on it through the per-task repack (exact, slower), so a job does not move a profile
/// across layouts.
fn load_model(
    args: &TuneArgs,
    current: &KernelConfig,
    note: &dyn Fn(String),
) -> Result<BitnetModel> {
    let (model, _) = load_named(
        args.model.as_deref(),
        &args.preset,
        EmbeddingFormat::F16,
        (Placement::HugePages, current.model_layout()),
        args.cache_dir.as_deref(),
        note,
    )?;
    Ok(model)
}

/// What a job runs on: the probe, its space, the current profile and the second attempt's start.
struct Setup {
    probe: Box<dyn Probe>,
    space: TuneSpace,
    current: Candidate,
    fallback: Candidate,
}

/// A harness's probe (`--harness`), or perfd's own kernels in this process on the model.
fn setup(
    args: &TuneArgs,
    dir: &Path,
    objective: Objective,
    stored: Option<&str>,
    note: &dyn Fn(String),
    pb: &indicatif::ProgressBar,
) -> Result<Setup> {
    let bad_params = |e: String| UsageError(format!("--params: {e}"));
    if let Some(command) = &args.harness {
        let (probe, space) = harness_probe(args, dir, command, objective)?;
        // A harness's own default is what it runs without PERFD_PARAMS: the empty profile.
        return Ok(Setup {
            probe: Box::new(probe),
            space,
            current: Candidate::parse(stored.unwrap_or_default()).map_err(bad_params)?,
            fallback: Candidate::default(),
        });
    }
    let current = KernelConfig::default()
        .with_params(stored.unwrap_or_default())
        .map_err(|e| bad_params(e.to_string()))?;
    pb.set_message("loading the model");
    let model = load_model(args, &current, note)?;
    let probe = EngineProbe::new(
        objective,
        Some(model),
        args.crossval_steps,
        Box::new(I2sGemm::new),
    )?;
    Ok(Setup {
        probe: Box::new(probe),
        space: TuneSpace::kernel_params(),
        current: Candidate::of_kernel_config(&current),
        fallback: Candidate::of_kernel_config(&KernelConfig::default()),
    })
}

/// The profile a job adopted, with its evidence.
fn adopted_profile(
    outcome: &crate::tuner::JobOutcome,
    host: &HostFingerprint,
    model: &str,
    objective: Objective,
) -> Result<Option<TunedProfile>> {
    let Some(t) = outcome.decisive_test().filter(|_| outcome.adopted) else {
        return Ok(None);
    };
    Ok(Some(TunedProfile {
        host: host.id.clone(),
        cpu: host.cpu_model.clone(),
        model: model.to_string(),
        objective: objective.to_string(),
        params: outcome.after.to_string(),
        replaced: outcome.before.to_string(),
        gain: t.gain,
        gain_ci95: t.gain_ci95,
        p_value: t.p_value,
        crossval: outcome
            .crossval
            .as_ref()
            .map_or_else(|| "not run".into(), |g| g.summary()),
        adopted_at: timestamp()?,
    }))
}

/// Runs the command; returns what to print.
pub fn run(args: &TuneArgs) -> Result<String> {
    let objective = check_args(args)?;
    if args.compare_exhaustive {
        return tune_exhaustive::run(args, objective);
    }
    let dir = state_dir(args)?;
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("create state directory {}", dir.display()))?;
    let store = Store::open(&crate::state_dir::history_db(&dir))
        .with_context(|| format!("open the history store in {}", dir.display()))?;
    let host = HostFingerprint::detect();
    let model_name = args
        .model_key
        .clone()
        .unwrap_or_else(|| model_key(&args.preset, args.model.as_deref()));
    let stored = match &args.params {
        Some(p) => Some(p.clone()),
        None => store
            .current_params(&host.id, &model_name, &objective.to_string())
            .context("read the adopted profile")?,
    };
    let pb = progress(args.json, args.max_evals as u64);
    let note = |line: String| pb.println(line);
    let Setup {
        mut probe,
        space,
        current,
        fallback,
    } = setup(args, &dir, objective, stored.as_deref(), &note, &pb)?;
    let spec = JobSpec {
        current,
        fallback_start: fallback,
        budget: Duration::from_secs(args.budget_secs),
        max_evals: args.max_evals,
        min_gain: args.min_gain,
        alpha: args.alpha,
        adoption_pairs: args.adoption_pairs,
    };
    let started_at = unix_now();
    // A harness's measurements belong to its command and its checkout (a worktree per commit in
    // the daemon): another build of the code must be checked and timed again.
    let measured = match &args.harness {
        Some(command) => format!(
            "{model_name}|{command}|{}",
            args.harness_cwd
                .as_deref()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        ),
        None => model_name.clone(),
    };
    let mut memory = StoreMemory::new(&store, scope(&host.id, &measured, &objective.to_string()));
    let mut on_progress = |p: Progress| {
        pb.set_position(p.evaluations as u64);
        pb.set_message(p.message);
    };
    let outcome =
        job::run(probe.as_mut(), &space, &spec, &mut memory, &mut on_progress).context("tuning")?;
    pb.finish_and_clear();

    let profile = adopted_profile(&outcome, &host, &model_name, objective)?;
    let mut report = TuneReport {
        schema: TUNE_SCHEMA.into(),
        host_id: host.id.clone(),
        cpu_model: host.cpu_model.clone(),
        model: model_name.clone(),
        objective: objective.to_string(),
        unit: objective.unit().into(),
        trigger: args.trigger.clone(),
        outcome: if outcome.adopted { "adopted" } else { "kept" }.into(),
        job: outcome,
        profile,
        profile_file: None,
        job_id: None,
    };
    if !args.dry_run {
        record(&dir, store, &mut report, started_at)?;
    }
    if args.json {
        return Ok(serde_json::to_string_pretty(&report)? + "\n");
    }
    Ok(human(&report))
}

/// Writes the profile file and records the job (and profile) in the store.
fn record(dir: &Path, mut store: Store, report: &mut TuneReport, started_at: f64) -> Result<()> {
    let toml = match &report.profile {
        Some(p) => {
            let text = p.to_toml().context("encode the tuned profile")?;
            let profiles = crate::state_dir::profiles(dir);
            std::fs::create_dir_all(&profiles)
                .with_context(|| format!("create {}", profiles.display()))?;
            let file = profiles.join(file_name(&p.host, &p.model, &p.objective));
            std::fs::write(&file, &text)
                .with_context(|| format!("write the tuned profile {}", file.display()))?;
            report.profile_file = Some(file.display().to_string());
            Some(text)
        }
        None => None,
    };
    let job = NewTuningJob {
        started_at,
        finished_at: unix_now(),
        host_id: report.host_id.clone(),
        model: report.model.clone(),
        objective: report.objective.clone(),
        trigger: report.trigger.clone(),
        outcome: report.outcome.clone(),
        evaluations: report.job.evaluations as u64,
        rejected: report.job.rejected.len() as u64,
        gain: report.job.decisive_test().map(|t| t.gain),
        before_params: report.job.before.to_string(),
        after_params: report.job.after.to_string(),
        outcome_json: serde_json::to_string(&report.job).context("encode the outcome")?,
        profile_toml: toml,
    };
    report.job_id = Some(
        store
            .record_tuning_job(&job)
            .context("record the tuning job")?,
    );
    Ok(())
}

fn human(r: &TuneReport) -> String {
    let j = &r.job;
    let mut out = format!(
        "perfd tune — {} on {} ({}), objective {} ({})\n",
        r.model, r.cpu_model, r.host_id, r.objective, r.unit
    );
    out.push_str(&format!(
        "outcome: {} after {} configurations in {:.0} s ({} rejected by the guard)\n",
        r.outcome,
        j.evaluations,
        j.seconds,
        j.rejected.len()
    ));
    out.push_str(&format!("before: {}\n", j.before));
    out.push_str(&format!("after:  {}\n", j.after));
    out.push_str(&format!("change: {}\n", j.before.diff_text(&j.after)));
    if let Some(t) = j.decisive_test() {
        out.push_str(&format!("A/B: {}\n", t.describe(&r.unit)));
    }
    out.push_str(&format!("why: {}\n", j.why));
    out.push_str(&format!(
        "crossval: {}\n",
        j.crossval
            .as_ref()
            .map_or_else(|| "not run".into(), |g| g.summary())
    ));
    for x in &j.rejected {
        out.push_str(&format!("rejected: {} — {}\n", x.params, x.check));
    }
    let mut unraced: Vec<&str> = Vec::new();
    for name in j.attempts.iter().flat_map(|a| &a.search.unraced) {
        if !unraced.contains(&name.as_str()) {
            unraced.push(name);
        }
    }
    if !unraced.is_empty() {
        out.push_str(&format!(
            "not raced (the kernels searched do not read them): {}\n",
            unraced.join(", ")
        ));
    }
    if let Some(f) = &r.profile_file {
        out.push_str(&format!("profile written to {f}\n"));
    }
    out
}
