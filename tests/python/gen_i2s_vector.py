#!/usr/bin/env python3
"""Independent numpy reference for the I2_S ternary weight format and int8
activation quantisation (bitnet.cpp x86 layout).

Deliberately written from the written contract only (it imports nothing from
the Rust crate) so that tests/fixtures/i2s_layout_vector.json is a genuine
second implementation to check the Rust code against.

Usage: gen_i2s_vector.py OUT.json   (or "-" for stdout)
Output is byte-reproducible: fixed seeds, sorted keys, compact separators.
"""
import json
import sys

import numpy as np

SCHEMA = "bitnet-perfd/i2s-layout-vector/v1"
GENERATOR = "tests/python/gen_i2s_vector.py"
SEED = 0x1B17_0158  # arbitrary but fixed; each case gets SEED + index
BLOCK = 128  # weights per I2_S block
BLOCK_BYTES = BLOCK // 4  # 2 bits per weight -> 32 bytes per block
TAIL_BYTES = 32  # f32 scale + 28 zero bytes of padding

# (name, M rows, K cols, N tokens, weight zero fraction, zero activation rows)
CASES = [
    ("m3_k256_n2", 3, 256, 2, 0.0, ()),
    ("m4_k160_n1_blocks_straddle_rows", 4, 160, 1, 0.0, ()),  # n=640, K%128!=0
    ("m5_k384_n3", 5, 384, 3, 0.0, ()),
    ("m16_k128_n4", 16, 128, 4, 0.0, ()),
    ("m1_k1024_n1_exact_zero_weights", 1, 1024, 1, 0.10, ()),
    ("m2_k128_n1_zero_activation_row", 2, 128, 1, 0.0, (0,)),  # hits 1e-5 floor
    ("m2_k128_n1_exact_ties", 2, 128, 1, 0.0, ()),  # see make_ties
]
TIES_CASE = "m2_k128_n1_exact_ties"


def make_ties(rng, w, x):
    """Values that land exactly on .5 after scaling, so round-half-to-even is tested.

    Weights: |w| is 0.125 or 0.375 in equal numbers, so mean|W| = 0.25 exactly and
    w/scale = +-0.5 (-> 0, not +-1) or +-1.5. Activations: absmax 127 gives s = 1
    exactly, and +-0.5, +-1.5, +-2.5, +-3.5 are ties.
    """
    mags = np.where(np.arange(w.size) % 2 == 0, 0.125, 0.375)
    signs = np.where(rng.random(w.size) < 0.5, -1.0, 1.0)
    w[...] = rng.permutation(mags * signs).reshape(w.shape).astype(np.float32)
    x[0, :] = np.round(rng.uniform(-100, 100, x.shape[1])).astype(np.float32)
    x[0, :9] = [127.0, 0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, -3.5]


def ternarise(w):
    """BitNet b1.58 absmean: mean(|W|) in float64 -> f32, then f32 divide + rint."""
    scale = np.float32(np.mean(np.abs(w.astype(np.float64))))
    if scale == 0:
        return np.zeros(w.shape, np.int8), scale
    # w and scale are both float32, so the division happens in float32;
    # np.rint is round-half-to-even, as the contract requires.
    t = np.clip(np.rint(w / scale), -1, 1).astype(np.int8)
    return t, scale


def pack_i2s(t_flat, scale):
    """Block b -> bytes [32b, 32b+32); weight j sits in byte j%32 at shift 6-2*(j//32)."""
    n = t_flat.size
    assert n % BLOCK == 0, "I2_S needs n to be a multiple of 128"
    codes = (t_flat.astype(np.int16) + 1).astype(np.uint8)  # -1,0,1 -> 0,1,2
    g = codes.reshape(n // BLOCK, 4, BLOCK_BYTES)  # [block][j//32][j%32]
    packed = (g[:, 0] << 6) | (g[:, 1] << 4) | (g[:, 2] << 2) | g[:, 3]
    tail = np.array([scale], dtype="<f4").tobytes()  # explicit little-endian
    return packed.astype(np.uint8).tobytes() + tail + bytes(TAIL_BYTES - 4)


def quantise_acts(x):
    """Per-token absmax int8: s = 127 / max(absmax, 1e-5), q = clip(rint(x*s))."""
    absmax = np.max(np.abs(x), axis=1)
    s = np.float32(127) / np.maximum(absmax, np.float32(1e-5))  # float32 divide
    assert s.dtype == np.float32
    q = np.clip(np.rint(x * s[:, None]), -128, 127).astype(np.int32)  # f32 mult
    return s, q, q.sum(axis=1, dtype=np.int64)


def self_check(packed, t_flat, scale, q, qsum, dot):
    """Re-derive everything with plain loops, independent of the numpy tricks above."""
    n = t_flat.size
    assert len(packed) == n // 4 + TAIL_BYTES
    for b in range(n // BLOCK):
        for j in range(BLOCK):
            byte = packed[BLOCK_BYTES * b + j % 32]
            code = (byte >> (6 - 2 * (j // 32))) & 0b11
            assert code == int(t_flat[BLOCK * b + j]) + 1, (b, j)
    assert np.frombuffer(packed, dtype="<f4", count=1, offset=n // 4)[0] == scale
    assert packed[n // 4 + 4:] == bytes(TAIL_BYTES - 4)
    # dot == sum(c*q) - qsum: the identity the SIMD kernel relies on.
    codes = t_flat.astype(np.int64) + 1
    m = dot.shape[1]
    c = codes.reshape(m, -1)
    assert np.array_equal(q.astype(np.int64) @ c.T - qsum[:, None], dot)


def f32_list(a):
    # float(np.float32) is exact, and json's repr round-trips the float64,
    # so a reader parsing f64 and casting to f32 recovers the exact bits.
    return [float(v) for v in np.asarray(a, np.float32).ravel()]


def make_case(idx, name, m, k, n_tok, zero_frac, zero_rows):
    rng = np.random.default_rng(SEED + idx)  # per-case seed: cases independent
    w = rng.normal(0.0, 0.02, (m, k)).astype(np.float32)
    if zero_frac:
        w[rng.random((m, k)) < zero_frac] = np.float32(0.0)
    factor = rng.uniform(0.1, 10.0, n_tok)
    x = (rng.normal(0.0, 1.0, (n_tok, k)) * factor[:, None]).astype(np.float32)
    for r in zero_rows:
        x[r, :] = np.float32(0.0)
    if name == TIES_CASE:
        make_ties(rng, w, x)

    t, scale = ternarise(w)
    t_flat = t.ravel()  # row-major flatten: blocks may straddle rows
    packed = pack_i2s(t_flat, scale)
    s, q, qsum = quantise_acts(x)
    dot = q.astype(np.int64) @ t.astype(np.int64).T  # [token][row], exact
    assert np.abs(dot).max(initial=0) < 2**24  # so float32(dot) is exact
    # y = (f32(dot) / s_i) * scale, every step in float32, in that order.
    y = (dot.astype(np.float32) / s[:, None]) * scale
    assert y.dtype == np.float32
    self_check(packed, t_flat, scale, q, qsum, dot)

    return {
        "name": name, "rows": m, "cols": k, "tokens": n_tok,
        "weights_f32": f32_list(w), "scale": float(scale),
        "ternary": [int(v) for v in t_flat], "packed_hex": packed.hex(),
        "acts_f32": f32_list(x), "act_scale": f32_list(s),
        "act_q": [int(v) for v in q.ravel()], "act_sum": [int(v) for v in qsum],
        "dot_i32": [int(v) for v in dot.ravel()], "y_f32": f32_list(y),
    }


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: gen_i2s_vector.py OUT.json|-")
    doc = {
        "schema": SCHEMA, "generator": GENERATOR, "numpy_version": np.__version__,
        "cases": [make_case(i, *c) for i, c in enumerate(CASES)],
    }
    text = json.dumps(doc, separators=(",", ":"), sort_keys=True) + "\n"
    if argv[1] == "-":
        sys.stdout.write(text)
    else:
        with open(argv[1], "w", encoding="ascii", newline="\n") as f:
            f.write(text)


if __name__ == "__main__":
    main(sys.argv)
