"""Reference vectors for perfd's readers of llama.cpp block formats, from the `gguf` package's
own numpy implementation (independent of perfd's Rust code).

Usage: quant_reference.py OUT_DIR. For each type writes OUT_DIR/<TYPE>.blocks (raw block bytes)
and OUT_DIR/<TYPE>.f32 (gguf's dequantisation, little-endian f32). For TQ1_0 and TQ2_0 it also
writes <TYPE>.ternary (int8 values), <TYPE>.scale (f32) and <TYPE>.quantized (gguf's encoding
of ternary × scale), to check perfd's encoders.
"""
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(20261126)
BLOCKS = 64

scale_offsets = {T.Q8_0: 0, T.Q6_K: 208, T.TQ1_0: 52, T.TQ2_0: 64}
for qtype in (T.Q8_0, T.Q6_K, T.BF16, T.TQ1_0, T.TQ2_0):
    block, size = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(BLOCKS, size), dtype=np.uint8)
    if qtype == T.BF16:
        # Finite values around 1e-2..1e2, both signs.
        vals = (rng.standard_normal(BLOCKS) * 10).astype(np.float32)
        raw = (vals.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(BLOCKS, 2)
    else:
        at = scale_offsets[qtype]
        d = rng.uniform(0.001, 0.1, BLOCKS).astype(np.float16)
        raw[:, at:at + 2] = d.view(np.uint8).reshape(BLOCKS, 2)
    values = dequantize(raw.reshape(-1), qtype).astype(np.float32)
    assert values.size == BLOCKS * block
    (out / f"{qtype.name}.blocks").write_bytes(raw.tobytes())
    (out / f"{qtype.name}.f32").write_bytes(values.astype("<f4").tobytes())

for qtype in (T.TQ1_0, T.TQ2_0):
    ternary = rng.integers(-1, 2, size=(BLOCKS, 256)).astype(np.int8)
    ternary[:, 0] = 1  # every block has a nonzero, so its scale is d itself
    scale = np.float32(np.float16(0.0234375))
    q = quantize((ternary.astype(np.float32) * scale), qtype)
    (out / f"{qtype.name}.ternary").write_bytes(ternary.tobytes())
    (out / f"{qtype.name}.scale").write_bytes(np.array([scale], dtype="<f4").tobytes())
    (out / f"{qtype.name}.quantized").write_bytes(q.tobytes())
print("ok")
