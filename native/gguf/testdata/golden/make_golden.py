#!/usr/bin/python3
"""Golden bytes for native/gguf's encoders, written by llama.cpp's own
numpy quantizers (gguf-py/gguf/quants.py), not by gptailor.

Run with Debian's python3 and python3-numpy, gguf-py from llama.cpp commit
c392e5094deaf2d1a7c18683214f007fad3fe42b (the fetch tool's mirror of
github:ggerganov/llama.cpp; `git archive HEAD gguf-py | tar -x -C DIR`):

    GGUF_PY=DIR/gguf-py /usr/bin/python3 make_golden.py

Inputs (input.f32, little-endian float32): random blocks of several
scales, edge blocks (zeros, -0, ties of magnitude, values at rounding
midpoints, binary16 underflow and overflow of the scale), and two real
tensors of testdata/stories260K-base (layer 0's q_proj, the embeddings).
Outputs: <type>.bin = gguf.quants.quantize(input, type) for F16, BF16,
Q8_0 and Q4_0; dq8_0.f32 / dq4_0.f32 = gguf.quants.dequantize of those;
q4_0_nofma.bin = Q4_0 computed as the C reference does when the compiler
does NOT fuse x*id + 8.5 (float32 product, then float32 sum), which
gguf-py's comment says its own float64 form cannot match everywhere.
"""
import json, os, struct, sys
import numpy as np

sys.path.insert(0, os.environ["GGUF_PY"])
from gguf import quants                        # noqa: E402
from gguf.constants import GGMLQuantizationType as T  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..", "..", "..")


def safetensor(path, name):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        info = head[name]
        assert info["dtype"] == "F32", info
        lo, hi = info["data_offsets"]
        f.seek(8 + n + lo)
        return np.frombuffer(f.read(hi - lo), dtype="<f4").copy()


rng = np.random.default_rng(29)
parts = []
for scale in (1e-3, 0.02, 1.0, 300.0):
    parts.append((rng.standard_normal(16 * 32) * scale).astype(np.float32))
edge = []
edge.append(np.zeros(32, np.float32))
edge.append(np.full(32, -0.0, np.float32))
b = np.zeros(32, np.float32); b[7] = 3.5; edge.append(b)
b = np.zeros(32, np.float32); b[3] = -2.0; b[20] = 2.0; edge.append(b)   # tie of magnitude, negative first
b = np.zeros(32, np.float32); b[3] = 2.0; b[20] = -2.0; edge.append(b)   # tie, positive first
b = np.arange(32, dtype=np.float32) - 15.5; b[0] = 127.0; edge.append(b)  # midpoints for Q8_0
b = (np.arange(32, dtype=np.float32) - 16) / 2; b[31] = -8.0; edge.append(b)  # midpoints for Q4_0
edge.append((rng.standard_normal(32) * 1e-9).astype(np.float32))       # scale underflows binary16
edge.append((rng.standard_normal(32) * 1e7).astype(np.float32))        # scale overflows binary16
edge.append(np.linspace(-1, 1, 32, dtype=np.float32))
# A block where fusing x*id + 8.5 matters: found by searching 200,000
# standard normal blocks (seed 1) for one where gguf-py's Q4_0 and the
# non-FMA form below differ (1 block in 200,000).
edge.append(np.random.default_rng(1).standard_normal((200000, 32)).astype(np.float32)[65784])
parts.append(np.concatenate(edge))
base = os.path.join(ROOT, "testdata", "stories260K-base", "model.safetensors")
parts.append(safetensor(base, "model.layers.0.self_attn.q_proj.weight"))
parts.append(safetensor(base, "model.embed_tokens.weight"))
x = np.concatenate(parts).astype(np.float32)
rows = x.reshape(-1, 32)

with np.errstate(over="ignore", invalid="ignore"):
    out = {
        "f16": quants.quantize(x, T.F16),
        "bf16": quants.quantize(rows, T.BF16),
        "q8_0": quants.quantize(rows, T.Q8_0),
        "q4_0": quants.quantize(rows, T.Q4_0),
    }
    dq = {k: quants.dequantize(out[k], getattr(T, k.upper())) for k in ("q8_0", "q4_0")}

    # Q4_0 as the C reference computes it without FMA.
    imax = abs(rows).argmax(axis=-1, keepdims=True)
    mx = np.take_along_axis(rows, imax, axis=-1)
    d = (mx / np.float32(-8)).astype(np.float32)
    idv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    prod = (rows * idv).astype(np.float32)
    s = (prod + np.float32(8.5)).astype(np.float32)
    qs = np.minimum(np.trunc(s), 15).astype(np.uint8)
    qs = qs.reshape((-1, 2, 16))
    qs = qs[:, 0, :] | (qs[:, 1, :] << np.uint8(4))
    nofma = np.concatenate([d.astype(np.float16).view(np.uint8), qs], axis=-1)

x.tofile(os.path.join(HERE, "input.f32"))
for k, v in out.items():
    np.ascontiguousarray(v).view(np.uint8).tofile(os.path.join(HERE, k + ".bin"))
for k, v in dq.items():
    v.astype("<f4").tofile(os.path.join(HERE, "d" + k + ".f32"))
nofma.tofile(os.path.join(HERE, "q4_0_nofma.bin"))
print(len(x), "values,", len(rows), "blocks")
