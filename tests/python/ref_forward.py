#!/usr/bin/env python3
"""Independent numpy reference for the BitNet b1.58 forward pass (bitnet.cpp GGUF).

Written from the file/math contract only (nothing is imported from the Rust
crate) so that it is a genuine second implementation: the Rust engine is
expected to match its logits (cosine >= 0.9999 per position) and its greedy
tokens exactly.

Usage: ref_forward.py MODEL.gguf --prompt 1,2,3,4 --steps 32 --out OUT.json
       (OUT "-" = stdout)
Output: {"generated": [steps ints], "logits": [[vocab floats], ...],
         "prompt": [...], "schema": "bitnet-perfd/ref-forward/v1"}
`logits` holds one vector per prompt token and per generated token except the
last one (P + steps - 1 vectors): the last token is never fed back.
"""
import argparse
import json
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType

SCHEMA = "bitnet-perfd/ref-forward/v1"
# general.architecture -> FFN gate activation: bitnet.cpp's name (BitNet b1.58 2B-4T, squared
# ReLU) and llama.cpp mainline's (its `bitnet` graph, SiLU). Same tensors otherwise.
ACTIVATIONS = {"bitnet-b1.58": "relu2", "bitnet": "silu"}
T_F32, T_F16, T_I2S = 0, 1, 36  # ggml type ids; 36 is the bitnet.cpp fork's I2_S
I2S_BLOCK = 128  # weights per I2_S block (32 bytes, 4 weights per byte)
F32 = np.float32


class BitNetReader(GGUFReader):
    """GGUFReader that tolerates I2_S.

    The stock _build_tensors converts every raw type id through
    GGMLQuantizationType, which has no 36, and raises. We only record where
    each tensor lives and decode the bytes ourselves from the memmap.
    """

    def _build_tensors(self, start_offs, fields):
        self.raw = {}
        for field in fields:
            _, name, _, dims, raw_type, offset = field.parts
            name = bytes(name).decode("utf-8")
            if name in self.raw:
                raise ValueError(f"duplicate tensor {name}")
            self.raw[name] = ([int(d) for d in dims], int(raw_type[0]),
                              int(start_offs + offset[0]))

    def meta(self, key):
        f = self.fields[key]
        part = f.parts[f.data[0]]
        if f.types[0] == GGUFValueType.STRING:
            return bytes(part).decode("utf-8")
        return part[0].item()

    def tensor(self, name, ggml_type, dims):
        """Checked decode; returns float32/float16 arrays or (ternary int8 [M,K], scale)."""
        got_dims, got_type, off = self.raw[name]
        if got_type != ggml_type or got_dims != dims:
            raise ValueError(f"{name}: type {got_type} dims {got_dims}, "
                             f"contract says type {ggml_type} dims {dims}")
        n = int(np.prod(dims))
        shape = tuple(reversed(dims))  # ggml dims[0] is the innermost (column) count
        if ggml_type == T_F32:
            return self.data[off:off + 4 * n].view("<f4").reshape(shape)
        if ggml_type == T_F16:
            return self.data[off:off + 2 * n].view("<f2").reshape(shape)
        return unpack_i2s(self.data[off:off + n // 4 + 4], n, shape)


def unpack_i2s(buf, n, shape):
    """Block b = bytes [32b, 32b+32); weight j of it: byte j%32, shift 6-2*(j//32).

    Then a little-endian f32 scale at byte n/4 (the padding after it is ignored).
    """
    if n % I2S_BLOCK:
        raise ValueError(f"I2_S needs n % 128 == 0, got n={n}")
    b = np.asarray(buf[:n // 4]).reshape(-1, 1, 32)  # [block][.][j%32]
    shifts = np.array([6, 4, 2, 0], np.uint8).reshape(1, 4, 1)  # index = j//32
    codes = (b >> shifts) & 3  # [block][j//32][j%32] -> flat order j = 32*(j//32) + j%32
    if np.any(codes == 3):
        raise ValueError("I2_S code 3 is not a ternary value")
    t = (codes.astype(np.int8) - 1).reshape(shape)  # code c means t = c - 1
    scale = F32(np.asarray(buf[n // 4:n // 4 + 4]).view("<f4")[0])
    return t, scale


class Model:
    def __init__(self, path):
        r = BitNetReader(path)
        arch = r.meta("general.architecture")
        if arch not in ACTIVATIONS:
            raise ValueError(f"not a BitNet b1.58 model ({', '.join(ACTIVATIONS)}): {arch!r}")
        self.activation = ACTIVATIONS[arch]
        hp = lambda k: r.meta(f"{arch}.{k}")  # noqa: E731
        self.n_layer, hid, ffn = hp("block_count"), hp("embedding_length"), hp("feed_forward_length")
        self.n_head, self.n_kv = hp("attention.head_count"), hp("attention.head_count_kv")
        # Keep eps as float32 because the file stores it as f32 and the engine adds it in f32.
        self.eps, self.rope_base = F32(hp("attention.layer_norm_rms_epsilon")), hp("rope.freq_base")
        self.n_ctx, self.vocab = hp("context_length"), hp("vocab_size")
        self.hd = hid // self.n_head
        kv = self.n_kv * self.hd
        # Decode F16 once: the same matrix is both the embedding table and the tied lm_head.
        self.emb = r.tensor("token_embd.weight", T_F16, [hid, self.vocab]).astype(F32)
        self.out_norm = r.tensor("output_norm.weight", T_F32, [hid])
        spec = {"attn_norm": (T_F32, [hid]), "attn_q": (T_I2S, [hid, hid]),
                "attn_k": (T_I2S, [hid, kv]), "attn_v": (T_I2S, [hid, kv]),
                "attn_output": (T_I2S, [hid, hid]), "attn_sub_norm": (T_F32, [hid]),
                "ffn_norm": (T_F32, [hid]), "ffn_gate": (T_I2S, [hid, ffn]),
                "ffn_up": (T_I2S, [hid, ffn]), "ffn_sub_norm": (T_F32, [ffn]),
                "ffn_down": (T_I2S, [ffn, hid])}
        self.layers = [{k: r.tensor(f"blk.{i}.{k}.weight", *v) for k, v in spec.items()}
                       for i in range(self.n_layer)]
        self.cache = [([], []) for _ in range(self.n_layer)]  # per layer: K rows, V rows
        self.kv_dtype = F32  # what the cache holds: F32, or np.float16

    def rmsnorm(self, v, w):
        """Mean of squares in float64, one float32 reciprocal, then (v * inv) * w in float32.

        Reductions are done in float64 so that two implementations with different summation
        orders still agree to the last float32 bit; otherwise int8 rounding ties downstream flip
        and a random high-gain network amplifies the flips.
        """
        ms = np.mean(np.square(v.astype(np.float64)))
        inv = F32(1.0 / np.sqrt(ms + np.float64(self.eps)))
        return (v * inv) * w

    @staticmethod
    def quantise(h):
        """Per-vector absmax int8 activations, all in float32 (rint = half to even)."""
        s = F32(127) / np.maximum(np.max(np.abs(h)), F32(1e-5))
        return s, np.clip(np.rint(h * s), -128, 127)

    @staticmethod
    def ternary(w, s, q):
        """y = (float32(t . q) / s) * scale.

        t and q are small integers and |t.q| <= 128*K < 2^24, so a float32 BLAS
        product is exact whatever its summation order: dot_r is the exact integer.
        """
        t, scale = w
        dot = t.astype(F32) @ q.astype(F32)
        return (dot / s) * scale

    def rope(self, x, pos):
        """NEOX rotation: pairs (i, i + d/2) per head; angles in float64, cast to f32."""
        d = self.hd
        theta = pos * float(self.rope_base) ** (-2.0 * np.arange(d // 2) / d)
        cos, sin = np.cos(theta).astype(F32), np.sin(theta).astype(F32)
        x = x.reshape(-1, d)
        a, b = x[:, :d // 2], x[:, d // 2:]
        return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=1)

    def step(self, token, pos):
        """Feed one token at position pos (cache must hold 0..pos-1); return logits."""
        if pos >= self.n_ctx:
            raise ValueError(f"position {pos} exceeds context_length {self.n_ctx}")
        x = self.emb[token].copy()
        group = self.n_head // self.n_kv  # query heads sharing one kv head (GQA)
        for L, (kc, vc) in zip(self.layers, self.cache):
            h = self.rmsnorm(x, L["attn_norm"])
            s, q8 = self.quantise(h)  # one quantisation shared by q, k, v
            q = self.rope(self.ternary(L["attn_q"], s, q8), pos)
            k = self.rope(self.ternary(L["attn_k"], s, q8), pos)
            v = self.ternary(L["attn_v"], s, q8).reshape(-1, self.hd)
            # An F16 cache stores each key and value rounded to nearest-even F16 once.
            kc.append(k.astype(self.kv_dtype).astype(F32))
            vc.append(v.astype(self.kv_dtype).astype(F32))
            K, V = np.stack(kc, axis=1), np.stack(vc, axis=1)  # [kv head, pos, d]
            kv_of = np.arange(self.n_head) // group
            # Attention in float64 (same reason as rmsnorm), result cast back to float32.
            qd, Kd, Vd = q.astype(np.float64), K.astype(np.float64), V.astype(np.float64)
            scores = np.einsum("hd,hpd->hp", qd, Kd[kv_of]) / np.sqrt(self.hd)
            e = np.exp(scores - scores.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
            attn = np.einsum("hp,hpd->hd", p, Vd[kv_of]).reshape(-1).astype(F32)
            a = self.rmsnorm(attn, L["attn_sub_norm"])
            x = x + self.ternary(L["attn_output"], *self.quantise(a))

            h = self.rmsnorm(x, L["ffn_norm"])
            s, q8 = self.quantise(h)
            g, u = self.ternary(L["ffn_gate"], s, q8), self.ternary(L["ffn_up"], s, q8)
            if self.activation == "relu2":
                f = np.square(np.maximum(g, F32(0))) * u  # squared ReLU gating
            else:
                f = g / (F32(1) + np.exp(-g)) * u  # SiLU gating
            f = f.astype(F32)
            f = self.rmsnorm(f, L["ffn_sub_norm"])
            x = x + self.ternary(L["ffn_down"], *self.quantise(f))
        x = self.rmsnorm(x, self.out_norm)
        logits = self.emb @ x
        assert logits.dtype == F32, logits.dtype  # guard against silent float64 promotion
        return logits


def run(model, prompt, steps):
    logits, generated, pos = [], [], 0
    for tok in prompt:
        last = model.step(tok, pos)
        logits.append(last)
        pos += 1
    while len(generated) < steps:
        nxt = int(np.argmax(last))  # np.argmax returns the lowest index on ties
        generated.append(nxt)
        if len(generated) == steps:
            break  # the last generated token is not fed, so its logits are not recorded
        last = model.step(nxt, pos)
        logits.append(last)
        pos += 1
    return generated, logits


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--prompt", required=True, help="comma-separated token ids")
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--out", default="-")
    ap.add_argument("--kv-cache", choices=["f32", "f16"], default="f32",
                    help="what the KV cache holds (f16: keys and values rounded once)")
    a = ap.parse_args(argv)
    prompt = [int(t) for t in a.prompt.split(",") if t.strip()]
    if not prompt or a.steps < 1:
        ap.error("need at least one prompt token and --steps >= 1")
    model = Model(a.model)
    if a.kv_cache == "f16":
        model.kv_dtype = np.float16
    if not all(0 <= t < model.vocab for t in prompt):
        ap.error(f"prompt token out of range [0, {model.vocab})")
    generated, logits = run(model, prompt, a.steps)
    doc = {"schema": SCHEMA, "prompt": prompt, "generated": generated,
           # float32 -> tolist() gives Python floats equal to float(np.float32(v))
           "logits": [v.astype(F32).tolist() for v in logits]}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    if a.out == "-":
        sys.stdout.write(text + "\n")
    else:
        with open(a.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
