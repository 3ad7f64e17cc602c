//! STREAM-style memory bandwidth (copy, triad, and a read-only sum) over arrays far larger than
//! the last-level cache, measured in the same run as the kernels so their ratio stays meaningful
//! on a machine whose bandwidth drifts with its neighbours' load. The read pass loads as the
//! kernels do (AVX-512 where the CPU has it, without software prefetch and with each of the
//! kernels' prefetch patterns, the fastest counted): a read with plain 16-byte loads stayed below
//! what decode itself streamed.
//!
//! Bytes are counted as STREAM counts them: copy 2 × 8 B per element, triad 3 × 8 B; the
//! write-allocate read of the destination is not counted.

use std::time::Instant;

pub use crate::report::bandwidth::StreamBandwidth;

use bitnet_kernels::cpu::huge_pages::advise_huge_pages;
use bitnet_kernels::cpu::read_stream::read_sum_bytes;
use bitnet_kernels::cpu::{Prefetch, PrefetchHint};

use crate::stats::Summary;

/// Each array is at least this many times the last-level cache (STREAM's rule of thumb).
const LLC_MULTIPLE: u64 = 4;
/// Smallest array, for hosts that do not report their cache.
const MIN_ARRAY_BYTES: u64 = 64 << 20;
/// LLC assumed for the DRAM-streaming kernel working set when the OS does not report one.
const UNKNOWN_LLC_BYTES: u64 = 32 << 20;
/// Default ceiling of the memory one bandwidth measurement may hold (STREAM's three arrays
/// together, or the DRAM-streaming kernel working set). VMs report the whole socket's L3
/// (300–480 MiB), and 4× that was three 2 GB arrays twice per run: past a few hundred MiB the
/// arrays are far beyond any one core's share of the cache and a bigger set measures nothing new.
pub const DEFAULT_MEMORY_CAP_BYTES: u64 = 1 << 30;
/// Smallest cap a user may set (`--bandwidth-mib`).
pub const MIN_MEMORY_CAP_MIB: u64 = 8;

/// How much memory the bandwidth measurements use on this host: the STREAM arrays and the
/// DRAM-streaming kernel working set, each sized from the LLC and capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BandwidthMemory {
    /// Last-level cache the sizes follow, when the OS reports it.
    pub llc_bytes: Option<u64>,
    /// Most bytes one measurement holds.
    pub cap_bytes: u64,
}

impl BandwidthMemory {
    /// The plan for a host: `cap_mib` when the user set one, else the smaller of
    /// [`DEFAULT_MEMORY_CAP_BYTES`] and a quarter of `available_bytes`.
    pub fn new(llc_bytes: Option<u64>, cap_mib: Option<u64>, available_bytes: u64) -> Self {
        let cap_bytes = match cap_mib {
            Some(m) => m.saturating_mul(1 << 20),
            None => DEFAULT_MEMORY_CAP_BYTES
                .min(available_bytes / 4)
                .max(MIN_MEMORY_CAP_MIB << 20),
        };
        Self {
            llc_bytes,
            cap_bytes,
        }
    }

    /// Size of each of STREAM's three arrays.
    pub fn stream_array_bytes(&self) -> u64 {
        let wanted = self
            .llc_bytes
            .map_or(MIN_ARRAY_BYTES, |l| l.saturating_mul(LLC_MULTIPLE))
            .max(MIN_ARRAY_BYTES);
        wanted.min(self.cap_bytes / 3)
    }

    /// Bytes of distinct weight matrices a DRAM-streaming kernel measurement cycles through.
    pub fn dram_working_set_bytes(&self) -> u64 {
        self.llc_bytes
            .unwrap_or(UNKNOWN_LLC_BYTES)
            .saturating_mul(LLC_MULTIPLE)
            .min(self.cap_bytes)
    }
}

/// Splits `0..n` into `parts` contiguous chunk lengths (the same split for init and every kernel,
/// so each thread touches the pages it first wrote).
fn chunk_len(n: usize, parts: usize) -> usize {
    n.div_ceil(parts.max(1)).max(1)
}

fn pin(i: usize) {
    if let Some(cores) = core_affinity::get_core_ids() {
        if let Some(&c) = cores.get(i % cores.len().max(1)) {
            // Best effort: an unpinned thread still measures, just more noisily.
            let _ = core_affinity::set_for_current(c);
        }
    }
}

/// Runs `f(thread_index, chunk)` on `threads` pinned scoped threads over `data` and returns seconds.
fn timed_par<T: Send>(threads: usize, data: &mut [T], f: impl Fn(usize, &mut [T]) + Sync) -> f64 {
    let len = chunk_len(data.len(), threads);
    let start = Instant::now();
    std::thread::scope(|s| {
        for (i, chunk) in data.chunks_mut(len).enumerate() {
            let f = &f;
            s.spawn(move || {
                pin(i);
                f(i, chunk)
            });
        }
    });
    start.elapsed().as_secs_f64()
}

/// Measures copy, triad and read bandwidth with `threads` threads, `reps` timed repetitions each.
pub fn measure(threads: usize, array_bytes: u64, reps: usize) -> Option<StreamBandwidth> {
    let n = (array_bytes / 8) as usize;
    let len = chunk_len(n, threads);
    let mut a = vec![0f64; n];
    let mut b = vec![0f64; n];
    let mut c = vec![0f64; n];
    // Huge pages, as the model's weights get (advised before the first touch below): the read
    // pass is the roofline, and 4 KiB pages would understate what the host can read (26.9 vs
    // 30.4 GB/s on the Sapphire Rapids VM).
    for v in [&a, &b, &c] {
        advise_huge_pages(v);
    }
    // First touch from the thread that will stream each chunk.
    for v in [&mut a, &mut b, &mut c] {
        timed_par(threads, v, |i, ch| {
            ch.iter_mut()
                .enumerate()
                .for_each(|(j, x)| *x = (i * len + j) as f64 * 1e-9 + 1.0)
        });
    }
    let bytes = (n * 8) as f64;
    let (mut copy, mut triad, mut read) = (Vec::new(), Vec::new(), Vec::new());
    let scalar = std::hint::black_box(3.0f64);
    // One untimed warm-up round, then `reps` timed rounds, interleaving the three kernels.
    for rep in 0..=reps {
        let t_copy = {
            let a = &a;
            timed_par(threads, &mut c, |i, ch| {
                ch.copy_from_slice(&a[i * len..i * len + ch.len()])
            })
        };
        let t_triad = {
            let (b, c) = (&b, &c);
            timed_par(threads, &mut a, |i, ch| {
                let (bs, cs) = (
                    &b[i * len..i * len + ch.len()],
                    &c[i * len..i * len + ch.len()],
                );
                for ((x, y), z) in ch.iter_mut().zip(bs).zip(cs) {
                    *x = y + scalar * z;
                }
            })
        };
        // The read pass as the kernels read: widest loads, without and with each prefetch
        // pattern; the fastest is what a read-only workload can reach this round.
        let t_read = READ_PATTERNS
            .iter()
            .map(|&ahead| read_pass(threads, len, &a, ahead))
            .fold(f64::INFINITY, f64::min);
        if rep > 0 {
            copy.push(2.0 * bytes / t_copy);
            triad.push(3.0 * bytes / t_triad);
            read.push(bytes / t_read);
        }
    }
    std::hint::black_box((&a[n / 2], &c[n / 3]));
    Some(StreamBandwidth {
        threads,
        array_bytes: (n * 8) as u64,
        copy: Summary::of(copy)?,
        triad: Summary::of(triad)?,
        read: Summary::of(read)?,
        read_pass: crate::report::bandwidth::READ_PASS.into(),
    })
}

/// The read passes measured each round: no software prefetch, 16 KiB ahead into L2, the same plus
/// 1 KiB ahead into L1 (the Intel kernels' default), and 16 KiB ahead non-temporally (the Zen 5
/// kernels' hint): the roofline is the best of the patterns the kernels can use, so a kernel
/// change of pattern cannot flatter its own ratio. On the Zen 5 VM a non-temporal read pass was
/// 0.99–1.07× the best of the other three (medians of 15 alternating rounds, three runs).
const READ_PATTERNS: [Option<Prefetch>; 4] = [
    None,
    Some(Prefetch {
        bytes: 16 << 10,
        hint: PrefetchHint::L2,
    }),
    Some(Prefetch {
        bytes: 16 << 10,
        hint: PrefetchHint::L2L1,
    }),
    Some(Prefetch {
        bytes: 16 << 10,
        hint: PrefetchHint::Nta,
    }),
];

/// Bytes/s at which `threads` pinned threads read `data` once, each its contiguous share, the
/// faster of the `READ_PATTERNS`: the read pass over memory that is already there (a model's
/// own weights, between benchmark repetitions), so it costs no allocation and reads the very
/// pages the kernels stream. `None` for empty data or a pass too fast to time.
pub fn read_bandwidth_of(threads: usize, data: &[u8]) -> Option<f64> {
    let threads = threads.max(1);
    let len = chunk_len(data.len(), threads);
    let seconds = READ_PATTERNS
        .iter()
        .map(|&ahead| timed_read(threads, len, data, |c| read_sum_bytes(c, ahead)))
        .fold(f64::INFINITY, f64::min);
    (!data.is_empty() && seconds > 0.0 && seconds.is_finite()).then(|| data.len() as f64 / seconds)
}

/// Seconds for `threads` pinned threads to read their `len`-element chunks of `a` once.
fn read_pass(threads: usize, len: usize, a: &[f64], ahead: Option<Prefetch>) -> f64 {
    timed_read(threads, len, a, |c| {
        read_sum_bytes(bytemuck::cast_slice::<f64, u8>(c), ahead)
    })
}

/// Seconds for `threads` pinned scoped threads to run `read` over their `len`-element chunks of
/// `data` (the sums are kept from the optimiser, not used).
fn timed_read<T: Sync, S: Send + Default>(
    threads: usize,
    len: usize,
    data: &[T],
    read: impl Fn(&[T]) -> S + Sync,
) -> f64 {
    let mut sums: Vec<S> = (0..threads.max(1)).map(|_| S::default()).collect();
    let start = Instant::now();
    std::thread::scope(|s| {
        for (i, sum) in sums.iter_mut().enumerate() {
            let read = &read;
            s.spawn(move || {
                pin(i);
                let lo = (i * len).min(data.len());
                let hi = ((i + 1) * len).min(data.len());
                *sum = read(&data[lo..hi]);
            });
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    std::hint::black_box(sums);
    seconds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pass_over_given_bytes_gives_a_rate_and_none_for_no_bytes() {
        let data = vec![7u8; 4 << 20];
        let bw = read_bandwidth_of(2, &data).unwrap();
        assert!(bw.is_finite() && bw > 0.0, "{bw}");
        assert_eq!(read_bandwidth_of(2, &[]), None);
    }

    #[test]
    fn small_measurement_is_positive_and_consistent() {
        let r = measure(2, 8 << 20, 3).unwrap();
        assert_eq!(r.copy.samples.len(), 3);
        assert!(r.copy.median > 1e8 && r.triad.median > 1e8 && r.read.median > 1e8);
        assert_eq!(
            r.stream_bytes_per_second(),
            r.copy.median.max(r.triad.median)
        );
    }

    #[test]
    fn array_size_follows_the_cache() {
        let plan = |llc| BandwidthMemory::new(llc, None, 64 << 30);
        assert_eq!(plan(Some(32 << 20)).stream_array_bytes(), 128 << 20);
        assert_eq!(plan(Some(1 << 20)).stream_array_bytes(), MIN_ARRAY_BYTES);
        assert_eq!(plan(None).stream_array_bytes(), MIN_ARRAY_BYTES);
        assert_eq!(plan(Some(32 << 20)).dram_working_set_bytes(), 128 << 20);
    }

    #[test]
    fn a_huge_or_misreported_cache_stays_within_the_cap() {
        // A VM reporting the socket's 480 MiB L3 used to get three 1.9 GB arrays.
        let big = BandwidthMemory::new(Some(480 << 20), None, 64 << 30);
        assert!(3 * big.stream_array_bytes() <= DEFAULT_MEMORY_CAP_BYTES);
        assert!(big.dram_working_set_bytes() <= DEFAULT_MEMORY_CAP_BYTES);
        // Little free memory: a quarter of it.
        let tight = BandwidthMemory::new(Some(480 << 20), None, 2 << 30);
        assert!(3 * tight.stream_array_bytes() <= 512 << 20);
        // A user cap wins over everything.
        let user = BandwidthMemory::new(Some(480 << 20), Some(48), 64 << 30);
        assert_eq!(user.stream_array_bytes(), 16 << 20);
        assert_eq!(user.dram_working_set_bytes(), 48 << 20);
    }
}
