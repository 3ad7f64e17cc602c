// Throwaway probe: row-lane layout (16 rows per 64-byte line) vs the current decode kernel.
use std::arch::x86_64::*;
use std::time::Instant;

use bitnet_kernels::cpu::read_stream::read_sum_bytes;
use bitnet_kernels::synthetic::{random_activations, random_matrix};
use bitnet_kernels::{I2sGemm, I2sMatrix, KernelConfig, QuantizedActivations};

struct Lanes {
    rows: usize,
    cols: usize, // multiple of 16
    data: Vec<u8>,
    off: usize,
}

impl Lanes {
    fn from(m: &I2sMatrix) -> Self {
        let v = m.view();
        let rows = v.rows();
        let cols = v.padded_cols();
        let groups = rows.div_ceil(16);
        let bytes = groups * 16 * cols / 4;
        let mut data = vec![0u8; bytes + 64];
        let off = (64 - data.as_ptr() as usize % 64) % 64;
        for g in 0..groups {
            for c in 0..cols / 16 {
                let line = off + (g * (cols / 16) + c) * 64;
                for r in 0..16 {
                    let row = g * 16 + r;
                    for i in 0..4 {
                        let mut b = 0u8;
                        for p in 0..4 {
                            let code = if row < rows { v.code(row, 16 * c + 4 * p + i) } else { 1 };
                            b |= code << (6 - 2 * p);
                        }
                        data[line + 4 * r + i] = b;
                    }
                }
            }
        }
        Lanes { rows, cols, data, off }
    }
    fn group(&self, g: usize) -> *const u8 {
        unsafe { self.data.as_ptr().add(self.off + g * 16 * self.cols / 4) }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn group_dot<const PF: usize>(w: *const u8, chunks: usize, acts: *const i8, out: *mut i32) {
    unsafe {
        let masks = [
            _mm512_set1_epi8(0xC0u8 as i8),
            _mm512_set1_epi8(0x30),
            _mm512_set1_epi8(0x0C),
            _mm512_set1_epi8(0x03),
        ];
        let mut a0 = [_mm512_setzero_si512(); 4];
        let mut a1 = [_mm512_setzero_si512(); 4];
        let ap = acts as *const i32;
        let mut c = 0;
        while c + 2 <= chunks {
            let p0 = w.add(c * 64);
            if PF > 0 {
                _mm_prefetch::<_MM_HINT_T1>(p0.add(PF) as *const i8);
                _mm_prefetch::<_MM_HINT_T1>(p0.add(PF + 64) as *const i8);
            }
            let w0 = _mm512_load_si512(p0 as *const __m512i);
            let w1 = _mm512_load_si512(p0.add(64) as *const __m512i);
            for p in 0..4 {
                a0[p] = _mm512_dpbusd_epi32(a0[p], _mm512_and_si512(w0, masks[p]), _mm512_set1_epi32(*ap.add(c * 4 + p)));
                a1[p] = _mm512_dpbusd_epi32(a1[p], _mm512_and_si512(w1, masks[p]), _mm512_set1_epi32(*ap.add(c * 4 + 4 + p)));
            }
            c += 2;
        }
        if c < chunks {
            let w0 = _mm512_load_si512(w.add(c * 64) as *const __m512i);
            for p in 0..4 {
                a0[p] = _mm512_dpbusd_epi32(a0[p], _mm512_and_si512(w0, masks[p]), _mm512_set1_epi32(*ap.add(c * 4 + p)));
            }
        }
        let pl: [__m512i; 4] = std::array::from_fn(|p| _mm512_add_epi32(a0[p], a1[p]));
        let s = _mm512_add_epi32(
            _mm512_add_epi32(_mm512_srai_epi32::<6>(pl[0]), _mm512_srai_epi32::<4>(pl[1])),
            _mm512_add_epi32(_mm512_srai_epi32::<2>(pl[2]), pl[3]),
        );
        _mm512_storeu_si512(out as *mut __m512i, s);
    }
}

fn lanes_gemv<const PF: usize>(pool: &bitnet_kernels::cpu::worker_pool::WorkerPool, m: &Lanes, acts: &[i8], out: &mut [i32], groups_per_task: usize) {
    let chunks = m.cols / 16;
    pool.for_each_chunk(out, 16 * groups_per_task, |i, chunk| {
        for (j, o) in chunk.chunks_mut(16).enumerate() {
            let g = i * groups_per_task + j;
            let mut tmp = [0i32; 16];
            unsafe { group_dot::<PF>(m.group(g), chunks, acts.as_ptr(), tmp.as_mut_ptr()) };
            o.copy_from_slice(&tmp[..o.len()]);
        }
    });
}


#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn group_tokens<const T: usize>(w: *const u8, chunks: usize, acts: &[&[i8]; T], out: &mut [[i32; 16]; T]) {
    unsafe {
        let m3 = _mm512_set1_epi8(3);
        let mut a0 = [_mm512_setzero_si512(); T];
        let mut a1 = [_mm512_setzero_si512(); T];
        for c in 0..chunks {
            let wv = _mm512_load_si512(w.add(c * 64) as *const __m512i);
            let c0 = _mm512_and_si512(_mm512_srli_epi16::<6>(wv), m3);
            let c1 = _mm512_and_si512(_mm512_srli_epi16::<4>(wv), m3);
            let c2 = _mm512_and_si512(_mm512_srli_epi16::<2>(wv), m3);
            let c3 = _mm512_and_si512(wv, m3);
            for t in 0..T {
                let ap = acts[t].as_ptr().add(c * 16) as *const i32;
                a0[t] = _mm512_dpbusd_epi32(a0[t], c0, _mm512_set1_epi32(*ap));
                a1[t] = _mm512_dpbusd_epi32(a1[t], c1, _mm512_set1_epi32(*ap.add(1)));
                a0[t] = _mm512_dpbusd_epi32(a0[t], c2, _mm512_set1_epi32(*ap.add(2)));
                a1[t] = _mm512_dpbusd_epi32(a1[t], c3, _mm512_set1_epi32(*ap.add(3)));
            }
        }
        for t in 0..T {
            _mm512_storeu_si512(out[t].as_mut_ptr() as *mut __m512i, _mm512_add_epi32(a0[t], a1[t]));
        }
    }
}

fn lanes_gemm<const T: usize>(pool: &bitnet_kernels::cpu::worker_pool::WorkerPool, m: &Lanes, acts: &[Vec<i8>], out: &mut [i32]) {
    // out laid out [group][token][16]
    let chunks = m.cols / 16;
    let n = acts.len();
    pool.for_each_chunk(out, 16 * n, |g, chunk| {
        let mut t0 = 0;
        while t0 + T <= n {
            let a: [&[i8]; T] = std::array::from_fn(|j| acts[t0 + j].as_slice());
            let mut o = [[0i32; 16]; T];
            unsafe { group_tokens::<T>(m.group(g), chunks, &a, &mut o) };
            for j in 0..T { chunk[(t0 + j) * 16..(t0 + j + 1) * 16].copy_from_slice(&o[j]); }
            t0 += T;
        }
    });
}

fn main() {
    let layers: usize = std::env::var("LAYERS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(8);
    let shapes = [(2560, 2560), (640, 2560), (640, 2560), (2560, 2560), (6912, 2560), (6912, 2560), (2560, 6912)];
    let base: Vec<I2sMatrix> = shapes.iter().enumerate().map(|(i, &(r, c))| random_matrix(r, c, i as u64 + 1).unwrap()).collect();
    let mats: Vec<&I2sMatrix> = (0..layers).flat_map(|_| base.iter()).collect();
    // distinct copies so they stream from DRAM
    let owned: Vec<I2sMatrix> = mats.iter().map(|m| (*m).clone()).collect();
    let lanes: Vec<Lanes> = owned.iter().map(Lanes::from).collect();
    let total: usize = owned.iter().map(|m| m.view().weight_bytes()).sum();
    let mut flat = vec![0u8; total];
    for (i, b) in flat.iter_mut().enumerate() { *b = i as u8; }
    let acts: Vec<QuantizedActivations> = [2560usize, 6912].iter().map(|&c| QuantizedActivations::quantize(&random_activations(1, c, 3), 1, c).unwrap()).collect();
    let act_of = |cols: usize| if cols == 2560 { &acts[0] } else { &acts[1] };
    let engine = I2sGemm::new(KernelConfig::default()).unwrap();
    eprintln!("config {}", engine.config());
    let gpt: usize = std::env::var("GPT").ok().and_then(|s| s.parse().ok()).unwrap_or(4);
    // correctness
    for (m, l) in owned.iter().zip(&lanes).take(7) {
        let a = act_of(m.view().cols());
        let want = engine.dot_i32(&m.view(), a).unwrap();
        let mut got = vec![0i32; m.view().rows()];
        let mut padded = a.token(0).to_vec();
        padded.resize(l.cols, 0);
        lanes_gemv::<0>(engine.pool(), l, &padded, &mut got, gpt);
        let sum: i32 = a.token(0).iter().map(|&q| q as i32).sum();
        for (g, w) in got.iter().zip(&want) { assert_eq!(g - sum, *w); }
    }
    eprintln!("correct; {} MB", total >> 20);
    let mut outs: Vec<Vec<f32>> = owned.iter().map(|m| vec![0f32; m.view().rows()]).collect();
    let mut iouts: Vec<Vec<i32>> = owned.iter().map(|m| vec![0i32; m.view().rows()]).collect();
    let padded: Vec<Vec<i8>> = acts.iter().map(|a| { let mut v = a.token(0).to_vec(); v.resize(v.len().div_ceil(16) * 16, 0); v }).collect();
    let gbs = |t: f64| total as f64 / t / 1e9;
    for round in 0..rounds {
        let t = Instant::now();
        for (m, o) in owned.iter().zip(outs.iter_mut()) { engine.gemm_into(&m.view(), act_of(m.view().cols()), o).unwrap(); }
        let cur = gbs(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for (l, o) in lanes.iter().zip(iouts.iter_mut()) { lanes_gemv::<0>(engine.pool(), l, if l.cols == 2560 { &padded[0] } else { &padded[1] }, o, gpt); }
        let ln0 = gbs(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for (l, o) in lanes.iter().zip(iouts.iter_mut()) { lanes_gemv::<2048>(engine.pool(), l, if l.cols == 2560 { &padded[0] } else { &padded[1] }, o, gpt); }
        let ln1 = gbs(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let s: u64 = engine.pool().run(|| { let h = flat.len() / 2; let (a, b) = flat.split_at(h); let (x, y) = rayon::join(|| read_sum_bytes(a, None), || read_sum_bytes(b, None)); x.wrapping_add(y) });
        let rd = gbs(t.elapsed().as_secs_f64());
        println!("round {round}: current {cur:.1}  lanes {ln0:.1}  lanes+pf {ln1:.1}  read {rd:.1} GB/s ({})", s % 7);
    }
    // in-cache: one gate matrix repeatedly
    let m = &owned[4]; let l = &lanes[4];
    let bytes = m.view().weight_bytes() as f64;
    let n = 200;
    let t = Instant::now(); for _ in 0..n { engine.gemm_into(&m.view(), &acts[0], &mut outs[4]).unwrap(); }
    let cur = bytes * n as f64 / t.elapsed().as_secs_f64() / 1e9;
    let t = Instant::now(); for _ in 0..n { lanes_gemv::<0>(engine.pool(), l, &padded[0], &mut iouts[4], gpt); }
    let ln = bytes * n as f64 / t.elapsed().as_secs_f64() / 1e9;
    println!("in cache (6912x2560, {:.1} MB): current {cur:.1} lanes {ln:.1} GB/s", bytes / 1e6);

    // prefill: 64 tokens through the whole set
    let ntok = 64;
    let pacts: Vec<QuantizedActivations> = [2560usize, 6912].iter().map(|&c| QuantizedActivations::quantize(&random_activations(ntok, c, 5), ntok, c).unwrap()).collect();
    let prows: Vec<Vec<Vec<i8>>> = pacts.iter().map(|a| (0..ntok).map(|t| { let mut v = a.token(t).to_vec(); v.resize(v.len().div_ceil(16) * 16, 0); v }).collect()).collect();
    // check
    {
        let m = &owned[6]; let l = &lanes[6];
        let want = engine.dot_i32(&m.view(), &pacts[1]).unwrap();
        let mut got = vec![0i32; l.rows.div_ceil(16) * 16 * ntok];
        lanes_gemm::<8>(engine.pool(), l, &prows[1], &mut got);
        for t in 0..ntok { let sum: i32 = pacts[1].token(t).iter().map(|&q| q as i32).sum(); for r in 0..m.view().rows() { assert_eq!(got[(r / 16) * 16 * ntok + t * 16 + r % 16] - sum, want[t * m.view().rows() + r]); } }
        eprintln!("prefill correct");
    }
    let mut pout: Vec<Vec<f32>> = owned.iter().map(|m| vec![0f32; m.view().rows() * ntok]).collect();
    let mut piout: Vec<Vec<i32>> = lanes.iter().map(|l| vec![0i32; l.rows.div_ceil(16) * 16 * ntok]).collect();
    let sel = |c: usize| if c == 2560 { 0 } else { 1 };
    for round in 0..4 {
        let t = Instant::now();
        for (m, o) in owned.iter().zip(pout.iter_mut()).take(70) { engine.gemm_into(&m.view(), &pacts[sel(m.view().cols())], o).unwrap(); }
        let cur = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for (l, o) in lanes.iter().zip(piout.iter_mut()).take(70) { lanes_gemm::<8>(engine.pool(), l, &prows[sel(l.cols)], o); }
        let l8 = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for (l, o) in lanes.iter().zip(piout.iter_mut()).take(70) { lanes_gemm::<4>(engine.pool(), l, &prows[sel(l.cols)], o); }
        let l4 = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for (l, o) in lanes.iter().zip(piout.iter_mut()).take(70) { lanes_gemm::<12>(engine.pool(), l, &prows[sel(l.cols)], o); }
        let l12 = t.elapsed().as_secs_f64();
        println!("prefill 10 layers x {ntok} tok: current {:.1} ms  lanes T8 {:.1}  T4 {:.1}  T12(60 tok) {:.1}", cur * 1e3, l8 * 1e3, l4 * 1e3, l12 * 1e3);
    }
}
