//! Parameter parsing, domains and constraints of `KernelConfig` / `ParamSpace`.

use bitnet_kernels::{I2sGemm, Isa, KernelConfig, KernelError, ParamSpace};

#[test]
fn params_round_trip_through_text() {
    let c = KernelConfig::default()
        .with_params("isa=scalar,threads=1,rows_per_task=16,row_tile=2,batch_width=4,col_block=512,prefetch_bytes=2048,prefetch_hint=nta,parallel_min_kib=256,pin_threads=true")
        .unwrap();
    assert_eq!(c.isa, Some(Isa::Scalar));
    let again = KernelConfig::default().with_params(&c.to_string()).unwrap();
    assert_eq!(again, c);
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
