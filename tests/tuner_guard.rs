//! The tuner's cross-validation guard against planted wrong kernels: a tuning job over the real
//! parameter space, on the real tiny model, where some parameter values build deliberately wrong
//! engines (one of them faster than the correct kernel). Every planted candidate the search meets
//! must be rejected and recorded with its failing check; no correct candidate may be rejected;
//! nothing planted may be adopted.

use std::time::{Duration, Instant};

use bitnet_kernels::model::Preset;
use bitnet_kernels::planted_fault::PlantedFault;
use bitnet_kernels::{I2sGemm, KernelConfig};
use perfd::harness::model_cache::{load_or_write, DEFAULT_SEED};
use perfd::tuner::guard::GuardReport;
use perfd::tuner::memory::TuneMemory;
use perfd::tuner::search::{search, SearchLimits};
use perfd::tuner::space::Candidate;
use perfd::tuner::{job, EngineProbe, JobSpec, Objective, TuneSpace};

/// The fault planted into a configuration, if any: each on a value the search visits whatever
/// it adopted before (from the defaults decode_row_tile 4 on Intel and 1 on AMD, rows_per_task
/// 64, prefetch_bytes 16384 on Intel and 6144 on AMD, col_block 0, each race tries every other
/// value of its parameter), so every host meets all four. Each is a parameter that decode on the
/// row-major model reads whatever was adopted before: the search does not race unread ones
/// (row_tile, batch_width and amx in decode; prefetch_hint once prefetch_bytes=0 is adopted).
fn planted(c: &KernelConfig) -> Option<PlantedFault> {
    if c.decode_row_tile == 2 {
        Some(PlantedFault::SkipTasks)
    } else if c.rows_per_task == 32 {
        Some(PlantedFault::RaggedTail)
    } else if c.prefetch_bytes == 2048 {
        Some(PlantedFault::BitFlip)
    } else if c.col_block == 512 {
        Some(PlantedFault::EpilogueDrift)
    } else {
        None
    }
}

fn factory() -> perfd::tuner::probe::EngineFactory {
    Box::new(|c: KernelConfig| match planted(&c) {
        Some(f) => I2sGemm::with_planted_fault(c, f),
        None => I2sGemm::new(c),
    })
}

fn config_of(c: &Candidate) -> KernelConfig {
    KernelConfig::default().with_params(&c.to_string()).unwrap()
}

/// Memory that records every guard report the job produced.
#[derive(Default)]
struct Recording {
    inner: perfd::tuner::memory::InMemory,
    guards: Vec<(Candidate, GuardReport)>,
}

impl TuneMemory for Recording {
    fn guard(&mut self, c: &Candidate) -> Option<GuardReport> {
        self.inner.guard(c)
    }
    fn keep_guard(&mut self, c: &Candidate, report: &GuardReport) {
        self.guards.push((c.clone(), report.clone()));
        self.inner.keep_guard(c, report);
    }
    fn pairs(&mut self, a: &Candidate, b: &Candidate) -> Vec<(f64, f64)> {
        self.inner.pairs(a, b)
    }
    fn keep_pair(&mut self, a: &Candidate, b: &Candidate, p: (f64, f64)) {
        self.inner.keep_pair(a, b, p)
    }
}

#[test]
fn planted_wrong_kernels_are_all_rejected_and_never_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let model = load_or_write(dir.path(), Preset::Tiny, DEFAULT_SEED, &|_| {}).unwrap();
    let mut probe = EngineProbe::new(Objective::Decode, Some(model), 8, factory()).unwrap();
    let space = TuneSpace::kernel_params();
    let defaults = Candidate::of_kernel_config(&KernelConfig::default());
    let spec = JobSpec {
        current: defaults.clone(),
        fallback_start: defaults,
        // Generous: the assertions are about correctness, not about how far the search gets.
        budget: Duration::from_secs(240),
        max_evals: 48,
        min_gain: 0.01,
        alpha: 0.01,
        adoption_pairs: 4,
    };
    let mut memory = Recording::default();
    let outcome = job::run(&mut probe, &space, &spec, &mut memory, &mut |_| {}).unwrap();

    let mut seen = std::collections::HashSet::new();
    for (c, report) in &memory.guards {
        let fault = planted(&config_of(c));
        match fault {
            Some(f) => {
                assert!(
                    !report.pass,
                    "planted {f:?} in {c} passed the guard: {report:?}"
                );
                seen.insert(format!("{f:?}"));
                assert!(
                    outcome.rejected.iter().any(|r| &r.params == c),
                    "planted {c} not recorded as rejected"
                );
            }
            None => assert!(report.pass, "a correct kernel {c} was rejected: {report:?}"),
        }
    }
    // The search visited every dimension's values from the defaults, so it met every fault.
    for f in PlantedFault::ALL {
        assert!(
            seen.contains(&format!("{f:?}")),
            "the search never met {f:?}; guarded: {:?}",
            memory
                .guards
                .iter()
                .map(|g| g.0.to_string())
                .collect::<Vec<_>>()
        );
    }
    assert!(
        planted(&config_of(&outcome.after)).is_none(),
        "adopted a planted kernel: {}",
        outcome.after
    );
    for attempt in &outcome.attempts {
        assert!(planted(&config_of(&attempt.search.best)).is_none());
    }
    assert_eq!(
        outcome.rejected.len(),
        memory
            .guards
            .iter()
            .filter(|(c, _)| planted(&config_of(c)).is_some())
            .count()
    );
    for r in &outcome.rejected {
        assert!(!r.check.is_empty() && r.check.contains("crossval"), "{r:?}");
    }
}

#[test]
fn a_faster_planted_kernel_loses_to_the_guard_not_to_the_clock() {
    // SkipTasks does half the work of the correct kernel: timing alone would pick it. A search
    // over decode_row_tile only, from the default (1 or 4), must reject it before it is timed.
    let dir = tempfile::tempdir().unwrap();
    let model = load_or_write(dir.path(), Preset::Tiny, DEFAULT_SEED, &|_| {}).unwrap();
    let mut probe = EngineProbe::new(Objective::Decode, Some(model), 8, factory()).unwrap();
    let space = TuneSpace::kernel_params().only(&["decode_row_tile"]);
    let start = Candidate::of_kernel_config(&KernelConfig::default());
    let mut memory = Recording::default();
    let found = search(
        &mut probe,
        &space,
        &start,
        SearchLimits::new(Instant::now() + Duration::from_secs(120), 10),
        &mut memory,
        &mut |_| {},
    )
    .unwrap();
    assert_ne!(found.best.get("decode_row_tile"), Some("2"));
    let planted_one = Candidate::parse(&start.to_string())
        .unwrap()
        .with("decode_row_tile", "2");
    assert!(
        found.rejected.iter().any(|r| r.params == planted_one),
        "{:?}",
        found.rejected
    );
}

/// On a deep model, where f32 and f64 attention part (min cosine 0.98 between them on 2b4t), the
/// guard compares each candidate with the reference in the candidate's own numerics: correct
/// engines of either kind pass. (Against one f64 reference, every AVX-512 candidate failed.)
#[test]
fn correct_candidates_pass_on_a_deep_model_in_either_numerics() {
    use bitnet_kernels::model::{BitnetModel, Numerics, Session};
    use bitnet_kernels::Isa;
    use perfd::tuner::probe::Probe;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.gguf");
    let hp = bitnet_kernels::model::synthetic_model::deep_test_hparams();
    bitnet_kernels::model::synthetic_model::write_model(&path, &hp, "deep", 3).unwrap();
    let model = BitnetModel::load(&path).unwrap();
    const STEPS: usize = 32;
    // The premise: on this model the two numerics' greedy runs from the guard's prompt differ
    // beyond the guard's thresholds.
    let best = I2sGemm::new(KernelConfig::default()).unwrap();
    let run = |numerics| {
        let mut s = Session::new(&model, &best, 4 + STEPS)
            .unwrap()
            .with_numerics(numerics);
        bitnet_kernels::model::forward::greedy(&mut s, &perfd::tuner::guard::GUARD_PROMPT, STEPS)
            .unwrap()
    };
    let ((ft, fl), (et, el)) = (run(Numerics::Fast), run(Numerics::Exact));
    let across = bitnet_kernels::model::model_crossval::compare(&fl, &el, ft, et);
    assert!(!across.pass, "f32 and f64 attention agree here: {across:?}");
    let mut probe = EngineProbe::new(
        Objective::Decode,
        Some(BitnetModel::load(&path).unwrap()),
        STEPS,
        factory(),
    )
    .unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for isa in Isa::supported() {
        let config = KernelConfig {
            isa: Some(isa),
            ..KernelConfig::default()
        };
        let engine = I2sGemm::new(config).unwrap();
        let numerics = Session::default_numerics(&model, &engine);
        kinds.insert(format!("{numerics:?}"));
        let report = probe.guard(&Candidate::of_kernel_config(&config)).unwrap();
        assert!(report.pass, "{isa} ({numerics:?}): {}", report.summary());
        assert!(report.model.is_some_and(|m| m.tokens_identical));
        if numerics == Numerics::Fast {
            eprintln!("{isa}: the SIMD attention passes against its scalar twin");
        }
    }
    assert!(kinds.contains("Exact"), "{kinds:?}");
}
