//! Parameter parsing, domains and constraints of `KernelConfig` / `ParamSpace`.

use bitnet_kernels::config::{PrefetchHint, StreamingDefaults};
use bitnet_kernels::cpu::CpuVendor;
use bitnet_kernels::{I2sGemm, Isa, KernelConfig, KernelError, ParamSpace};

#[test]
fn params_round_trip_through_text() {
    let c = KernelConfig::default()
        .with_params("isa=scalar,threads=1,rows_per_task=16,row_tile=2,batch_width=4,col_block=512,prefetch_bytes=2048,prefetch_hint=nta,kv_prefetch_hint=l1,parallel_min_kib=256,pin_threads=true")
        .unwrap();
    assert_eq!(c.isa, Some(Isa::Scalar));
    assert_eq!(c.kv_prefetch_hint, PrefetchHint::L1);
    let again = KernelConfig::default().with_params(&c.to_string()).unwrap();
    assert_eq!(again, c);
}

/// The streaming defaults follow what was measured per CPU: one row stream 6 KiB ahead on AMD,
/// non-temporal from Zen 5 on; four rows, 16 KiB into L2 plus 1 KiB into L1 on Intel; KV rows
/// into L1 from Zen 5 on, into L2 elsewhere.
#[test]
fn streaming_defaults_follow_the_cpu() {
    let hint = |vendor, family| StreamingDefaults::for_cpu(vendor, family).prefetch_hint;
    assert_eq!(hint(CpuVendor::Amd, 0x1A), PrefetchHint::Nta);
    assert_eq!(hint(CpuVendor::Amd, 0x1B), PrefetchHint::Nta);
    assert_eq!(hint(CpuVendor::Amd, 0x19), PrefetchHint::L2);
    assert_eq!(hint(CpuVendor::Intel, 6), PrefetchHint::L2L1);
    assert_eq!(hint(CpuVendor::Other, 0x1A), PrefetchHint::L2L1);
    let amd = StreamingDefaults::for_cpu(CpuVendor::Amd, 0x1A);
    assert_eq!((amd.decode_row_tile, amd.prefetch_bytes), (1, 6144));
    let intel = StreamingDefaults::for_cpu(CpuVendor::Intel, 6);
    assert_eq!((intel.decode_row_tile, intel.prefetch_bytes), (4, 16384));
    // Attention's KV rows: into L1 from Zen 5 on, into L2 elsewhere.
    let kv = |vendor, family| StreamingDefaults::for_cpu(vendor, family).kv_prefetch_hint;
    assert_eq!(kv(CpuVendor::Amd, 0x1A), PrefetchHint::L1);
    assert_eq!(kv(CpuVendor::Amd, 0x19), PrefetchHint::L2);
    assert_eq!(kv(CpuVendor::Intel, 6), PrefetchHint::L2);
    assert_eq!(kv(CpuVendor::Other, 0x1A), PrefetchHint::L2);
    // This host's default is the table's entry for it.
    let here = StreamingDefaults::for_cpu(CpuVendor::of_host(), CpuVendor::family_of_host());
    assert_eq!(KernelConfig::default().prefetch_hint, here.prefetch_hint);
    assert_eq!(
        KernelConfig::default().kv_prefetch_hint,
        here.kv_prefetch_hint
    );
}

#[test]
fn bad_params_name_the_key() {
    let err = |s: &str| KernelConfig::default().with_params(s).unwrap_err();
    assert!(matches!(err("bogus=1"), KernelError::Param { name, .. } if name == "bogus"));
    assert!(matches!(err("threads=x"), KernelError::Param { name, .. } if name == "threads"));
    assert!(matches!(err("threads=0"), KernelError::Param { name, .. } if name == "threads"));
    assert!(matches!(err("row_tile=3"), KernelError::Param { name, .. } if name == "row_tile"));
    assert!(matches!(err("isa=neon"), KernelError::Param { name, .. } if name == "isa"));
    assert!(
        matches!(err("rows_per_task=4,row_tile=4,col_block=100"), KernelError::Param { name, .. } if name == "col_block")
    );
    assert!(matches!(err("threads"), KernelError::Param { .. }));
    assert!(
        matches!(err("prefetch_hint=l3"), KernelError::Param { name, .. } if name == "prefetch_hint")
    );
    // Attention prefetches each row once: the near second prefetch of l2_l1 follows a stream.
    for bad in ["kv_prefetch_hint=l2_l1", "kv_prefetch_hint=l3"] {
        assert!(
            matches!(err(bad), KernelError::Param { name, .. } if name == "kv_prefetch_hint"),
            "{bad}"
        );
    }
}

#[test]
fn constraints_hold_in_every_enumerated_config() {
    let space = ParamSpace::new(vec![Isa::Scalar, Isa::Avx2], 2);
    let configs = space.configs();
    assert!(configs.iter().all(|c| c.rows_per_task % c.row_tile == 0));
    assert!(configs.iter().all(|c| c.isa.is_some()));
    // Scalar is never tuned: only threads × rows_per_task × pinning.
    assert_eq!(
        configs
            .iter()
            .filter(|c| c.isa == Some(Isa::Scalar))
            .count(),
        2 * 7 * 2
    );
    let err = space.validate(&KernelConfig {
        rows_per_task: 4,
        row_tile: 4,
        ..KernelConfig {
            isa: Some(Isa::Avx512Vnni),
            threads: 1,
            ..KernelConfig::default()
        }
    });
    assert!(matches!(err, Err(KernelError::IsaUnsupported(..))));
    let err = space.validate(&KernelConfig {
        rows_per_task: 4,
        row_tile: 4,
        threads: 3,
        isa: None,
        ..KernelConfig::default()
    });
    assert!(matches!(err, Err(KernelError::Param { name, .. }) if name == "threads"));
    assert!(space.to_string().contains("rows_per_task"));
}

#[test]
fn unsupported_isa_is_a_clear_error() {
    if let Some(missing) = Isa::ALL.into_iter().find(|i| !i.is_supported()) {
        let e = I2sGemm::new(KernelConfig {
            isa: Some(missing),
            ..KernelConfig::default()
        })
        .unwrap_err();
        assert!(matches!(e, KernelError::IsaUnsupported(..)));
    }
    assert!(Isa::supported().contains(&Isa::Scalar));
    assert_eq!(Isa::best(), *Isa::supported().last().unwrap());
}

#[test]
fn unread_params_follow_the_kernel_each_call_runs() {
    use bitnet_kernels::format::ternary_layout::TernaryLayout::{Lanes16, RowMajor};
    let c = |s: &str| KernelConfig::default().with_params(s).unwrap();
    let tiles = ["row_tile", "decode_row_tile", "batch_width", "col_block"];
    // The lanes16 VNNI kernel has fixed tiles, in decode and (without AMX) in prompt batches.
    let lanes = c("isa=avx512vnni,threads=2,prefetch_bytes=4096,amx=false");
    for decode_only in [true, false] {
        let unread = lanes.unread_params(Lanes16, decode_only);
        assert!(tiles.iter().all(|t| unread.contains(t)), "{unread:?}");
    }
    // Row-major matrices, or AVX-512BW (which repacks lanes16 into row-major rows), read them.
    for (config, layout) in [(lanes, RowMajor), (c("isa=avx512bw,threads=2"), Lanes16)] {
        let batches = config.unread_params(layout, false);
        assert!(tiles.iter().all(|t| !batches.contains(t)), "{batches:?}");
        // One token: the row-major tile is decode_row_tile rows by one token.
        let decode = config.unread_params(layout, true);
        assert!(decode.contains(&"row_tile") && decode.contains(&"batch_width"));
        assert!(!decode.contains(&"decode_row_tile") && !decode.contains(&"col_block"));
    }
    // AMX batches unpack lane groups themselves (and read no tiles); decode never runs on AMX.
    // Built directly: `with_params` refuses amx=true on a host without AMX.
    let amx = KernelConfig {
        amx: true,
        ..c("isa=avx512vnni,threads=2")
    };
    assert!(amx.unread_params(Lanes16, true).contains(&"amx"));
    assert!(!amx.unread_params(Lanes16, false).contains(&"amx"));
    assert!(!amx.unread_params(Lanes16, false).contains(&"col_block"));
    // The hint of a prefetch that is off, and the pool settings without a pool.
    let off = c("isa=avx2,threads=1,prefetch_bytes=0");
    let unread = off.unread_params(RowMajor, false);
    for p in ["prefetch_hint", "parallel_min_kib", "pin_threads"] {
        assert!(unread.contains(&p), "{p} in {unread:?}");
    }
    let on = c("isa=avx2,threads=2,prefetch_bytes=2048");
    assert!(on.unread_params(RowMajor, false).is_empty());
    // Every name is a real parameter.
    let space = ParamSpace::new(vec![Isa::Scalar, Isa::Avx2], 2);
    for config in [lanes, amx, off] {
        for p in config.unread_params(Lanes16, true) {
            assert!(space.params.iter().any(|q| q.name == p), "{p}");
        }
    }
}
