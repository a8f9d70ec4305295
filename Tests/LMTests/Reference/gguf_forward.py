"""Independent reference forward pass for a Llama/Qwen2-architecture GGUF file, used only by tests.

Weights are dequantized by the `gguf` package (not MLX) and the forward pass runs in float64
numpy in the GGUF's own layout (interleaved RoPE for llama files, whose q/k rows llama.cpp
permuted; half-rotation for qwen2), so it shares no code or layout decision with PostTrain.

usage: python3 gguf_forward.py MODEL.gguf IDS_JSON OUT_JSON
IDS_JSON holds a list of token-id lists; OUT_JSON receives, per prompt, the logits of every
position as a nested list [positions][vocab].
"""
import json
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def field(r, key, default=None):
    f = r.fields.get(key)
    if f is None:
        return default
    v = f.contents()
    return v


def main():
    path, ids_path, out_path = sys.argv[1:4]
    r = GGUFReader(path)
    arch = field(r, "general.architecture")
    n_layer = int(field(r, f"{arch}.block_count"))
    n_head = int(field(r, f"{arch}.attention.head_count"))
    n_kv = int(field(r, f"{arch}.attention.head_count_kv", n_head))
    eps = float(field(r, f"{arch}.attention.layer_norm_rms_epsilon"))
    theta = float(field(r, f"{arch}.rope.freq_base", 10000.0))
    W = {}
    for t in r.tensors:
        a = dequantize(t.data, t.tensor_type).astype(np.float64)
        W[t.name] = a.reshape([int(x) for x in reversed(t.shape)]) if a.ndim == 1 and len(t.shape) > 1 else a
    emb = W["token_embd.weight"]
    out_w = W.get("output.weight", emb)
    d = emb.shape[1]
    hd = d // n_head
    interleaved = arch == "llama"

    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

    def rope(x, pos):  # x [L, H, hd]
        inv = theta ** (-np.arange(0, hd, 2) / hd)
        ang = pos[:, None] * inv[None, :]  # [L, hd/2]
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        if interleaved:
            x1, x2 = x[..., 0::2], x[..., 1::2]
            out = np.empty_like(x)
            out[..., 0::2] = x1 * c - x2 * s
            out[..., 1::2] = x1 * s + x2 * c
            return out
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return np.concatenate([x1 * c - x2 * s, x1 * s + x2 * c], -1)

    results = []
    for ids in json.load(open(ids_path)):
        L = len(ids)
        pos = np.arange(L, dtype=np.float64)
        h = emb[ids]
        for i in range(n_layer):
            p = f"blk.{i}."
            x = rms(h, W[p + "attn_norm.weight"])
            q = x @ W[p + "attn_q.weight"].T + W.get(p + "attn_q.bias", 0)
            k = x @ W[p + "attn_k.weight"].T + W.get(p + "attn_k.bias", 0)
            v = x @ W[p + "attn_v.weight"].T + W.get(p + "attn_v.bias", 0)
            q = rope(q.reshape(L, n_head, hd), pos)
            k = rope(k.reshape(L, n_kv, hd), pos)
            v = v.reshape(L, n_kv, hd)
            rep = n_head // n_kv
            k = np.repeat(k, rep, axis=1)
            v = np.repeat(v, rep, axis=1)
            att = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd)
            att = att + np.triu(np.full((L, L), -np.inf), 1)[None]
            att = np.exp(att - att.max(-1, keepdims=True))
            att = att / att.sum(-1, keepdims=True)
            o = np.einsum("hqk,khd->qhd", att, v).reshape(L, d)
            h = h + o @ W[p + "attn_output.weight"].T
            x = rms(h, W[p + "ffn_norm.weight"])
            g = x @ W[p + "ffn_gate.weight"].T
            u = x @ W[p + "ffn_up.weight"].T
            h = h + ((g / (1 + np.exp(-g))) * u) @ W[p + "ffn_down.weight"].T
        h = rms(h, W["output_norm.weight"])
        results.append((h @ out_w.T).tolist())
    json.dump(results, open(out_path, "w"))


if __name__ == "__main__":
    main()
