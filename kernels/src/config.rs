//! Tunable kernel parameters: `KernelConfig`, the declared domain of each parameter and the
//! constraints between them, as an enumerable [`ParamSpace`].
//!
//! The textual form `isa=avx2,threads=2,...` is what `perfd bench --params` takes and what results
//! record, so a measured configuration can always be re-run exactly.

use std::fmt;

use crate::cpu::tile::TileParams;
use crate::cpu::CpuVendor;
pub use crate::cpu::PrefetchHint;
use crate::error::KernelError;
use crate::format::model_layout::{LmHeadLayout, ModelLayout};
use crate::format::ternary_layout::TernaryLayout;

pub use crate::cpu::Isa;

/// Largest `rows_per_task`; also bounds the per-task stack buffer of the GEMV epilogue.
pub const MAX_ROWS_PER_TASK: usize = 256;

const ROWS_PER_TASK: [usize; 7] = [4, 8, 16, 32, 64, 128, 256];
const ROW_TILES: [usize; 3] = [1, 2, 4];
const BATCH_WIDTHS: [usize; 3] = [1, 2, 4];
const COL_BLOCKS: [usize; 5] = [0, 512, 1024, 2048, 4096];
const PREFETCH: [usize; 8] = [0, 1024, 2048, 4096, 6144, 8192, 16384, 32768];
const PARALLEL_MIN_KIB: [usize; 5] = [0, 128, 256, 512, 1024];

/// One configuration of the I2_S kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KernelConfig {
    /// Instruction set; `None` picks the fastest this CPU supports.
    pub isa: Option<Isa>,
    /// Worker threads splitting output rows.
    pub threads: usize,
    /// Output rows per parallel task.
    pub rows_per_task: usize,
    /// Weight rows sharing each activation load in prompt batches (two or more tokens). This
    /// and `decode_row_tile`, `batch_width` and `col_block` shape the row-major kernels' tiles;
    /// the lanes16 and trits16 kernels ([`Self::weight_layout`]) have fixed ones (16 or 32 rows,
    /// 8 tokens).
    pub row_tile: usize,
    /// Weight rows sharing each activation load in decode (one token). 1 reads the weights as
    /// one stream per thread; 4 as four interleaved row streams with a quarter of the activation
    /// loads.
    pub decode_row_tile: usize,
    /// Tokens sharing each unpacked weight vector (small-batch GEMM width).
    pub batch_width: usize,
    /// Weights of K per column block (0 = whole row).
    pub col_block: usize,
    /// Software prefetch distance in bytes (0 = off).
    pub prefetch_bytes: usize,
    /// Cache level software prefetches fill.
    pub prefetch_hint: PrefetchHint,
    /// Cache level attention prefetches the KV cache's rows into, ahead of the ones it reads
    /// (one of [`PrefetchHint::ROW`]).
    pub kv_prefetch_hint: PrefetchHint,
    /// Calls reading fewer KiB of weights (× tokens) than this run on the calling thread: waking
    /// the pool costs more than it saves on small matrices.
    pub parallel_min_kib: usize,
    /// Pin worker threads to cores.
    pub pin_threads: bool,
    /// Prompt batches of at least [`AMX_MIN_TOKENS`] tokens multiply on AMX-INT8 tiles (with isa
    /// `avx512vnni`, on CPUs and kernels that grant AMX); decode keeps the VNNI kernel.
    pub amx: bool,
}

/// Fewest tokens a GEMM call needs before `amx=true` moves it onto tiles: a tile holds 16
/// tokens and the call pads to pairs of tiles, so below this the VNNI kernel wastes less.
pub const AMX_MIN_TOKENS: usize = 16;

/// Number of hardware threads the OS reports (at least 1).
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Default for KernelConfig {
    fn default() -> Self {
        let streaming =
            StreamingDefaults::for_cpu(CpuVendor::of_host(), CpuVendor::family_of_host());
        Self {
            isa: None,
            threads: available_threads(),
            // Measured on an AVX-512 Zen 4 VM (2 threads, 2560x6912, DRAM-streaming): prefetching
            // 16 KiB ahead (past the current row tile) into L2 lifts streaming bandwidth ~1.5x over
            // no prefetch; pinning and 64-row tasks keep each thread's stream long. Four tokens
            // per unpacked weight vector: 2b4t prefill 60 -> 89 tokens/s, decode unchanged.
            rows_per_task: 64,
            row_tile: 4,
            decode_row_tile: streaming.decode_row_tile,
            batch_width: 4,
            col_block: 0,
            prefetch_bytes: streaming.prefetch_bytes,
            prefetch_hint: streaming.prefetch_hint,
            kv_prefetch_hint: streaming.kv_prefetch_hint,
            // 640x2560 (409 KiB, the K/V projections), cache-resident: VNNI 12.7 µs on one
            // thread vs 14.9 µs on two. 2560x2560 (1.6 MiB) still gains from two threads.
            parallel_min_kib: 512,
            pin_threads: true,
            // 2b4t prefill of 128 tokens on a 2-core Sapphire Rapids VM: see docs/measurements.md.
            amx: crate::cpu::amx_int8_usable(),
        }
    }
}

/// How the decode GEMV streams its weights by default: the settings whose best value was measured
/// to differ between AMD's and Intel's memory systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamingDefaults {
    /// [`KernelConfig::decode_row_tile`].
    pub decode_row_tile: usize,
    /// [`KernelConfig::prefetch_bytes`].
    pub prefetch_bytes: usize,
    /// [`KernelConfig::prefetch_hint`].
    pub prefetch_hint: PrefetchHint,
    /// [`KernelConfig::kv_prefetch_hint`].
    pub kv_prefetch_hint: PrefetchHint,
}

impl StreamingDefaults {
    /// CPU family of AMD's Zen 5 (`CpuVendor::family_of_host`).
    pub const ZEN5_FAMILY: u32 = 0x1A;

    /// The defaults for a CPU of `vendor` and `family`.
    ///
    /// Intel (Sapphire and Emerald Rapids VMs): four row streams per thread, 16 KiB ahead into L2
    /// plus 1 KiB ahead into L1 (`cpu::prefetch`); one row at a time lost (decode 0.88×).
    ///
    /// AMD (a Zen 5 EPYC VM, 2 threads, DRAM-streaming; ratios to a read pass in the same
    /// process, alternating, 25 rounds): the decode GEMV's loop read 0.77× the read pass with four
    /// row streams per thread whatever the prefetch (none, L1, L2, NTA, 4 or 16 KiB), 0.70× with
    /// two, and 0.95× with one (0.99× prefetching 4 KiB into L2). In 2b4t decode, interleaved:
    /// one row 1.10× (two runs), and then 4 KiB into L2 1.14× the 16 KiB L2+L1 prefetch.
    /// Prompt batches keep four rows (one row: prefill 0.70×). The distance is 6 KiB: this host's
    /// memory reads 45–60 GB/s most of the time and 75–110 in some minutes; alternating in one
    /// process with a read pass (7.3 k rounds, binned by its rate), 6 KiB against 4 KiB was
    /// 0.98–1.03× below 60 GB/s for one big ternary matrix, 2560×2560 matrices and the F16
    /// lm_head, and 0.99–1.05×, 1.06–1.07× and 1.04–1.05× above 70 (8 KiB: as 6 above 70, but the
    /// F16 kernel 0.95–0.99× below 60); in 2b4t decode, 33 interleaved pairs with both windows
    /// below 62 GB/s: 1.001× median.
    ///
    /// Zen 5 and later prefetch non-temporally (`prefetchnta`): the stream then does not pass
    /// through L2 into L3 as victims, and 2b4t decode (tokens alternating against `l2`, per-pair
    /// medians of 5–11 repetitions, reads 33–68 GB/s) ran 1.012–1.031× in eight runs, 1.048× at
    /// 3968 positions, with the Q6_K lm_head 1.019×, prefill unchanged (an A/A run: 0.999×);
    /// NTA 16 KiB ahead 0.984× NTA 6 KiB, 4 KiB 0.997× and 8 KiB 1.014× `l2`. Earlier AMD
    /// families keep `l2` (not measured with NTA); on Intel NTA read 22–33 % of the read pass.
    ///
    /// Zen 5 also prefetches attention's KV rows into L1 (`prefetcht0`) rather than L2: 2b4t
    /// decode with the F16 cache, tokens alternating against `l2` (`perfd bench --pp 32 --tg 32
    /// --reps 15 --ctx 1024,3968`, per-pair medians of three runs): 1.018–1.056× from 3968
    /// positions, 1.010–1.024× from 1024, 1.000–1.008× at 32–255 positions; non-temporal gained
    /// as much (1.010–1.028×, and 0.993× against L1 directly); an A/A run 1.006× and 1.000×.
    /// Elsewhere the rows go into L2 (measured on Intel and earlier AMD with f32 caches only).
    pub fn for_cpu(vendor: CpuVendor, family: u32) -> Self {
        match vendor {
            CpuVendor::Amd => Self {
                decode_row_tile: 1,
                prefetch_bytes: 6144,
                prefetch_hint: if family >= Self::ZEN5_FAMILY {
                    PrefetchHint::Nta
                } else {
                    PrefetchHint::L2
                },
                kv_prefetch_hint: if family >= Self::ZEN5_FAMILY {
                    PrefetchHint::L1
                } else {
                    PrefetchHint::L2
                },
            },
            CpuVendor::Intel | CpuVendor::Other => Self {
                decode_row_tile: 4,
                prefetch_bytes: 16384,
                prefetch_hint: PrefetchHint::L2L1,
                kv_prefetch_hint: PrefetchHint::L2,
            },
        }
    }
}

/// A named parameter with its documentation and every value it may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamDomain {
    /// Key in `k=v` form.
    pub name: &'static str,
    /// What the parameter does.
    pub doc: &'static str,
    /// Allowed values, as text.
    pub values: Vec<String>,
}

fn texts<T: ToString>(values: &[T]) -> Vec<String> {
    values.iter().map(ToString::to_string).collect()
}

/// The parameter space of this host: domains and constraints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpace {
    /// Every parameter, in `KernelConfig` order.
    pub params: Vec<ParamDomain>,
    supported: Vec<Isa>,
    max_threads: usize,
    /// AMX-INT8 usable here and the VNNI ISA (which it extends) supported.
    amx: bool,
}

impl ParamSpace {
    /// The space on this CPU: only supported ISAs, at most as many threads as hardware threads.
    pub fn for_host() -> Self {
        Self::new(Isa::supported(), available_threads())
    }

    /// A space for the given ISAs and thread limit (tests build spaces of other hosts with it).
    /// `amx=true` is in it when this CPU grants AMX-INT8 and `supported` has `avx512vnni`.
    pub fn new(supported: Vec<Isa>, max_threads: usize) -> Self {
        let amx = crate::cpu::amx_int8_usable() && supported.contains(&Isa::Avx512Vnni);
        let mut isas = vec!["auto".to_string()];
        isas.extend(supported.iter().map(|i| i.name().to_string()));
        let threads: Vec<usize> = (1..=max_threads.max(1)).collect();
        let params = vec![
            ParamDomain {
                name: "isa",
                doc: "instruction set (auto = fastest supported)",
                values: isas,
            },
            ParamDomain {
                name: "threads",
                doc: "worker threads splitting output rows",
                values: texts(&threads),
            },
            ParamDomain {
                name: "rows_per_task",
                doc: "output rows per parallel task (multiple of row_tile)",
                values: texts(&ROWS_PER_TASK),
            },
            ParamDomain {
                name: "row_tile",
                doc: "weight rows sharing each activation load in prompt batches (row-major kernels; lane-group tiles are 32 rows)",
                values: texts(&ROW_TILES),
            },
            ParamDomain {
                name: "decode_row_tile",
                doc: "weight rows sharing each activation load in decode (1 = one row stream per thread; row-major kernels, lane groups read 16 rows per line)",
                values: texts(&ROW_TILES),
            },
            ParamDomain {
                name: "batch_width",
                doc: "tokens sharing each unpacked weight vector (row-major kernels; lane-group tiles are 8 tokens)",
                values: texts(&BATCH_WIDTHS),
            },
            ParamDomain {
                name: "col_block",
                doc: "weights of K per column block, 0 = whole row (row-major kernels)",
                values: texts(&COL_BLOCKS),
            },
            ParamDomain {
                name: "prefetch_bytes",
                doc: "software prefetch distance in bytes ahead of each row pointer (rows are contiguous, so large values reach later row tiles), 0 = off",
                values: texts(&PREFETCH),
            },
            ParamDomain {
                name: "prefetch_hint",
                doc: "cache level prefetches fill (l2 keeps enough misses in flight for DRAM; l2_l1 adds a prefetch from L2 into L1 1 KiB ahead, one tile ahead in the row-major decode tile)",
                values: texts(&PrefetchHint::ALL),
            },
            ParamDomain {
                name: "kv_prefetch_hint",
                doc: "cache level attention prefetches the KV cache's rows into, ahead of the ones it reads (decode and prompts, not the kernel benchmarks)",
                values: texts(&PrefetchHint::ROW),
            },
            ParamDomain {
                name: "parallel_min_kib",
                doc: "calls reading fewer KiB of weights (x tokens) run on one thread",
                values: texts(&PARALLEL_MIN_KIB),
            },
            ParamDomain {
                name: "pin_threads",
                doc: "pin worker threads to cores",
                values: texts(&[false, true]),
            },
            ParamDomain {
                name: "amx",
                doc: "prompt batches (>= 16 tokens) on AMX-INT8 tiles, with isa avx512vnni",
                values: if amx {
                    texts(&[false, true])
                } else {
                    texts(&[false])
                },
            },
        ];
        Self {
            params,
            supported,
            max_threads: max_threads.max(1),
            amx,
        }
    }

    /// Checks every value against its domain and the constraints between parameters.
    pub fn validate(&self, c: &KernelConfig) -> Result<(), KernelError> {
        let bad = |name: &str, reason: String| KernelError::Param {
            name: name.to_string(),
            reason,
        };
        if let Some(isa) = c.isa {
            if !self.supported.contains(&isa) {
                let names: Vec<_> = self.supported.iter().map(|i| i.name()).collect();
                return Err(KernelError::IsaUnsupported(
                    isa.name().into(),
                    names.join(", "),
                ));
            }
        }
        if c.threads == 0 || c.threads > self.max_threads {
            return Err(bad(
                "threads",
                format!("{} is outside 1..={}", c.threads, self.max_threads),
            ));
        }
        let in_domain = |name: &str, v: usize, dom: &[usize]| {
            if dom.contains(&v) {
                Ok(())
            } else {
                Err(bad(name, format!("{v} is not one of {dom:?}")))
            }
        };
        in_domain("rows_per_task", c.rows_per_task, &ROWS_PER_TASK)?;
        in_domain("row_tile", c.row_tile, &ROW_TILES)?;
        // Every tile divides every rows_per_task, so decode needs no constraint of its own.
        in_domain("decode_row_tile", c.decode_row_tile, &ROW_TILES)?;
        in_domain("batch_width", c.batch_width, &BATCH_WIDTHS)?;
        in_domain("col_block", c.col_block, &COL_BLOCKS)?;
        in_domain("prefetch_bytes", c.prefetch_bytes, &PREFETCH)?;
        in_domain("parallel_min_kib", c.parallel_min_kib, &PARALLEL_MIN_KIB)?;
        if !PrefetchHint::ROW.contains(&c.kv_prefetch_hint) {
            return Err(bad(
                "kv_prefetch_hint",
                format!(
                    "{} is not one of {:?}: attention prefetches each row once",
                    c.kv_prefetch_hint,
                    PrefetchHint::ROW.map(PrefetchHint::name)
                ),
            ));
        }
        if !c.rows_per_task.is_multiple_of(c.row_tile) {
            return Err(bad(
                "rows_per_task",
                format!(
                    "{} is not a multiple of row_tile={}",
                    c.rows_per_task, c.row_tile
                ),
            ));
        }
        if c.amx && !self.amx {
            return Err(bad(
                "amx",
                "true needs a CPU with AMX-INT8 and AVX-512 VNNI, and a kernel granting the tile state; this host has none"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Every valid configuration with an explicit ISA (`auto` would only repeat one of them).
    ///
    /// The scalar reference is never tuned, so for it only threads and rows_per_task vary; `amx`
    /// varies only with the VNNI ISA, whose prompt batches it moves. `kv_prefetch_hint` stays at
    /// this host's default: no GEMM reads it, and every configuration here is one of the GEMM
    /// kernels' (attention's hints are checked by its own tests, on every value).
    pub fn configs(&self) -> Vec<KernelConfig> {
        let mut out = Vec::new();
        let neutral = KernelConfig {
            row_tile: 1,
            decode_row_tile: 1,
            batch_width: 1,
            col_block: 0,
            prefetch_bytes: 0,
            ..KernelConfig::default()
        };
        for &isa in &self.supported {
            for threads in 1..=self.max_threads {
                for &rows_per_task in &ROWS_PER_TASK {
                    for pin_threads in [false, true] {
                        let base = KernelConfig {
                            isa: Some(isa),
                            threads,
                            rows_per_task,
                            pin_threads,
                            amx: false,
                            ..neutral
                        };
                        if isa == Isa::Scalar {
                            out.push(base);
                            continue;
                        }
                        for (&row_tile, &decode_row_tile) in ROW_TILES
                            .iter()
                            .flat_map(|r| ROW_TILES.iter().map(move |d| (r, d)))
                        {
                            for &batch_width in &BATCH_WIDTHS {
                                for &col_block in &COL_BLOCKS {
                                    for &prefetch_bytes in &PREFETCH {
                                        // The hint only matters when prefetching is on.
                                        let hints: &[PrefetchHint] = if prefetch_bytes == 0 {
                                            &[PrefetchHint::L2]
                                        } else {
                                            &PrefetchHint::ALL
                                        };
                                        // The inline threshold only matters with a pool.
                                        let mins: &[usize] =
                                            if threads > 1 { &PARALLEL_MIN_KIB } else { &[0] };
                                        for (&prefetch_hint, &parallel_min_kib) in hints
                                            .iter()
                                            .flat_map(|h| mins.iter().map(move |m| (h, m)))
                                        {
                                            let c = KernelConfig {
                                                row_tile,
                                                decode_row_tile,
                                                batch_width,
                                                col_block,
                                                prefetch_bytes,
                                                prefetch_hint,
                                                parallel_min_kib,
                                                ..base
                                            };
                                            if self.validate(&c).is_ok() {
                                                out.push(c);
                                                if self.amx && isa == Isa::Avx512Vnni {
                                                    out.push(KernelConfig { amx: true, ..c });
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

impl fmt::Display for ParamSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.params {
            writeln!(f, "{:<16} {:<40} {}", p.name, p.values.join("|"), p.doc)?;
        }
        writeln!(
            f,
            "constraints: rows_per_task % row_tile == 0; isa must be supported by this CPU; amx only moves avx512vnni prompt batches"
        )?;
        write!(
            f,
            "valid configurations (explicit isa, kv_prefetch_hint at its default): {}",
            self.configs().len()
        )
    }
}

impl KernelConfig {
    /// Applies `k=v,k=v` overrides (the `--params` syntax) and validates against the host space.
    pub fn with_params(mut self, spec: &str) -> Result<Self, KernelError> {
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or_else(|| KernelError::Param {
                name: pair.to_string(),
                reason: "expected key=value".into(),
            })?;
            self.set(key.trim(), value.trim())?;
        }
        ParamSpace::for_host().validate(&self)?;
        Ok(self)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), KernelError> {
        let num = || {
            value.parse::<usize>().map_err(|_| KernelError::Param {
                name: key.to_string(),
                reason: format!("`{value}` is not a non-negative integer"),
            })
        };
        match key {
            "isa" => {
                self.isa = match value {
                    "auto" => None,
                    v => Some(v.parse().map_err(|reason| KernelError::Param {
                        name: key.into(),
                        reason,
                    })?),
                }
            }
            "threads" => self.threads = num()?,
            "rows_per_task" => self.rows_per_task = num()?,
            "row_tile" => self.row_tile = num()?,
            "decode_row_tile" => self.decode_row_tile = num()?,
            "batch_width" => self.batch_width = num()?,
            "col_block" => self.col_block = num()?,
            "prefetch_bytes" => self.prefetch_bytes = num()?,
            "parallel_min_kib" => self.parallel_min_kib = num()?,
            "prefetch_hint" | "kv_prefetch_hint" => {
                let hint = value.parse().map_err(|reason| KernelError::Param {
                    name: key.into(),
                    reason,
                })?;
                if key == "prefetch_hint" {
                    self.prefetch_hint = hint;
                } else {
                    self.kv_prefetch_hint = hint;
                }
            }
            "pin_threads" | "amx" => {
                let flag = value.parse().map_err(|_| KernelError::Param {
                    name: key.into(),
                    reason: format!("`{value}` is not true or false"),
                })?;
                if key == "amx" {
                    self.amx = flag;
                } else {
                    self.pin_threads = flag;
                }
            }
            _ => {
                let known: Vec<_> = ParamSpace::for_host()
                    .params
                    .iter()
                    .map(|p| p.name)
                    .collect();
                return Err(KernelError::Param {
                    name: key.to_string(),
                    reason: format!("unknown parameter (known: {})", known.join(", ")),
                });
            }
        }
        Ok(())
    }

    /// The ISA this configuration runs on this CPU.
    pub fn resolved_isa(&self) -> Isa {
        self.isa.unwrap_or_else(Isa::best)
    }

    /// The weight layout a model is loaded in for this configuration: trits16 where the VNNI
    /// kernels run every call (isa avx512vnni without AMX batches), row-major otherwise.
    /// Trits16 decodes from 0.8× the bytes of lanes16 at the same prompt speed: 2b4t on the
    /// Zen 5 VM, one `perfd bench --compare-layout trits16` run, decode 1.10×, prefill 0.995×.
    /// AMX batches read lanes16 too, but unpacking a lane group to a panel stores 16-byte pieces
    /// where a row stores whole blocks: about twice the unpacking work per panel, not measured
    /// on an AMX host yet, so AMX hosts keep the file's order by default (`--layout lanes16`
    /// runs them on lanes16).
    pub fn weight_layout(&self) -> TernaryLayout {
        if self.resolved_isa() == Isa::Avx512Vnni && !self.amx {
            TernaryLayout::Trits16
        } else {
            TernaryLayout::RowMajor
        }
    }

    /// The lm_head layout a model is loaded in for this configuration: packed where the
    /// configuration's lm_head kernel is AVX-512 and the CPU has VBMI to unpack F16 in
    /// registers (`cpu::embedding_gemv`), as stored otherwise (another ISA would unpack every
    /// row in scalar code first). Packed, 2b4t's F16 lm_head streams 15 or 14 bits a weight
    /// against 16, and a Q6_K one its own bytes with fewer instructions a block (regrouped).
    pub fn lm_head_layout(&self) -> LmHeadLayout {
        if crate::cpu::embedding_gemv::reads_packed_f16_in_registers(self.resolved_isa()) {
            LmHeadLayout::Packed
        } else {
            LmHeadLayout::AsStored
        }
    }

    /// Both layouts a model is loaded in for this configuration.
    pub fn model_layout(&self) -> ModelLayout {
        ModelLayout {
            ternary: self.weight_layout(),
            lm_head: self.lm_head_layout(),
        }
    }

    /// Parameters no kernel of this configuration reads on matrices in `layout`, in calls of one
    /// token only (`decode_only`: decode and single-token GEMVs) or of any width: changing one
    /// of them changes nothing but the noise of a measurement, so a tuner does not race them.
    pub fn unread_params(&self, layout: TernaryLayout, decode_only: bool) -> Vec<&'static str> {
        let mut unread = Vec::new();
        let lanes_kernel = layout != TernaryLayout::RowMajor
            && self.resolved_isa() == Isa::Avx512Vnni
            && (decode_only || !self.amx);
        if lanes_kernel {
            // The lanes16 and trits16 kernels' tiles are fixed (16 or 32 rows, 8 tokens, whole
            // rows).
            unread.extend(["row_tile", "decode_row_tile", "batch_width", "col_block"]);
        } else if decode_only {
            // One token: the row-major tiles take `decode_row_tile` rows, one token wide.
            unread.extend(["row_tile", "batch_width"]);
        }
        if decode_only {
            // AMX only moves prompt batches of AMX_MIN_TOKENS tokens or more.
            unread.push("amx");
        }
        if self.prefetch_bytes == 0 {
            unread.push("prefetch_hint");
        }
        if self.threads <= 1 {
            // No pool: every call runs inline on the calling thread, which is not pinned.
            unread.extend(["parallel_min_kib", "pin_threads"]);
        }
        unread
    }

    /// The tile parameters the SIMD kernels read.
    pub fn tile(&self) -> TileParams {
        TileParams {
            row_tile: self.row_tile,
            decode_row_tile: self.decode_row_tile,
            batch_width: self.batch_width,
            col_block: self.col_block,
            prefetch_bytes: self.prefetch_bytes,
            prefetch_hint: self.prefetch_hint,
        }
    }
}

impl fmt::Display for KernelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "isa={},threads={},rows_per_task={},row_tile={},decode_row_tile={},batch_width={},col_block={},prefetch_bytes={},prefetch_hint={},kv_prefetch_hint={},parallel_min_kib={},pin_threads={},amx={}",
            self.isa.map_or("auto", Isa::name),
            self.threads,
            self.rows_per_task,
            self.row_tile,
            self.decode_row_tile,
            self.batch_width,
            self.col_block,
            self.prefetch_bytes,
            self.prefetch_hint,
            self.kv_prefetch_hint,
            self.parallel_min_kib,
            self.pin_threads,
            self.amx
        )
    }
}
