"""Reads a GGUF's metadata with the `gguf` package (independent of perfd's reader) and prints it
as JSON: {key: [value type name, value]}. The package cannot decode bitnet.cpp's I2_S tensor
type (36), so tensor data is skipped: only the metadata and tensor infos are parsed.

Usage: loader_keys.py FILE.gguf
"""
import json
import sys

from gguf import GGUFReader


class MetadataReader(GGUFReader):
    def _build_tensors(self, start_offs, fields):  # noqa: D401 - same signature as the base
        self.tensors = []


r = MetadataReader(sys.argv[1])
out = {}
for key, field in r.fields.items():
    if key.startswith("GGUF."):
        continue
    value = field.contents()
    if isinstance(value, list) and len(value) > 8:
        value = f"[{len(value)} values]"
    out[key] = [field.types[0].name, value]
print(json.dumps(out, sort_keys=True))
