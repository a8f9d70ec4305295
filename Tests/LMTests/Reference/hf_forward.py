"""Independent reference for Hugging Face-layout checkpoints, used only by tests.

Writes a small random model of a given architecture as a Hugging Face directory (config.json
and safetensors sharded in two files with model.safetensors.index.json, written by hand with
numpy), then runs a float64 numpy forward pass in HF's own conventions (half-rotation RoPE,
q/k/v biases for qwen2, per-head q/k RMSNorm for qwen3, llama3 rope scaling) and writes logits.

usage: python3 hf_forward.py ARCH OUT_DIR IDS_JSON LOGITS_JSON
"""
import json
import os
import struct
import sys

import numpy as np


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, arr in tensors.items():
        data = np.ascontiguousarray(arr.astype(np.float32)).tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    arch, out, ids_path, logits_path = sys.argv[1:5]
    rng = np.random.default_rng(7)
    d, n_head, n_kv, layers, vocab, ff = 64, 4, 2, 2, 300, 128
    hd = d // n_head
    model_type = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "llama3": "llama"}[arch]
    config = {"model_type": model_type, "hidden_size": d, "intermediate_size": ff, "num_hidden_layers": layers,
              "num_attention_heads": n_head, "num_key_value_heads": n_kv, "vocab_size": vocab, "rms_norm_eps": 1e-6,
              "rope_theta": 10000.0 if arch != "qwen3" else 1000000.0, "tie_word_embeddings": arch == "qwen2",
              "max_position_embeddings": 4096, "head_dim": hd}
    if arch == "qwen2":
        config["attention_bias"] = True
    if arch == "llama3":
        config["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                  "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    W = {"model.embed_tokens.weight": rng.normal(0, 0.5, (vocab, d)), "model.norm.weight": 1 + rng.normal(0, 0.1, d)}
    if not config["tie_word_embeddings"]:
        W["lm_head.weight"] = rng.normal(0, 0.2, (vocab, d))
    for i in range(layers):
        p = f"model.layers.{i}."
        W[p + "input_layernorm.weight"] = 1 + rng.normal(0, 0.1, d)
        W[p + "post_attention_layernorm.weight"] = 1 + rng.normal(0, 0.1, d)
        for name, shape in [("q_proj", (n_head * hd, d)), ("k_proj", (n_kv * hd, d)), ("v_proj", (n_kv * hd, d)),
                            ("o_proj", (d, n_head * hd))]:
            W[p + f"self_attn.{name}.weight"] = rng.normal(0, 0.15, shape)
        if arch == "qwen2":
            for name, n in [("q_proj", n_head * hd), ("k_proj", n_kv * hd), ("v_proj", n_kv * hd)]:
                W[p + f"self_attn.{name}.bias"] = rng.normal(0, 0.2, n)
        if arch == "qwen3":
            W[p + "self_attn.q_norm.weight"] = 1 + rng.normal(0, 0.1, hd)
            W[p + "self_attn.k_norm.weight"] = 1 + rng.normal(0, 0.1, hd)
        for name, shape in [("gate_proj", (ff, d)), ("up_proj", (ff, d)), ("down_proj", (d, ff))]:
            W[p + f"mlp.{name}.weight"] = rng.normal(0, 0.15, shape)
    W = {k: v.astype(np.float32).astype(np.float64) for k, v in W.items()}

    os.makedirs(out, exist_ok=True)
    json.dump(config, open(os.path.join(out, "config.json"), "w"))
    names = sorted(W)
    shards = [names[: len(names) // 2], names[len(names) // 2:]]
    weight_map = {}
    for s, part in enumerate(shards):
        fname = f"model-{s + 1:05d}-of-00002.safetensors"
        write_safetensors(os.path.join(out, fname), {n: W[n] for n in part})
        weight_map.update({n: fname for n in part})
    json.dump({"metadata": {}, "weight_map": weight_map}, open(os.path.join(out, "model.safetensors.index.json"), "w"))

    inv = config["rope_theta"] ** (-np.arange(0, hd, 2) / hd)
    if arch == "llama3":
        rs = config["rope_scaling"]
        old, f, lo, hi = rs["original_max_position_embeddings"], rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        wavelen = 2 * np.pi / inv
        smooth = (old / wavelen - lo) / (hi - lo)
        scaled = np.where(wavelen > old / lo, inv / f, inv)
        mid = (wavelen <= old / lo) & (wavelen >= old / hi)
        inv = np.where(mid, (1 - smooth) * inv / f + smooth * inv, scaled)

    def rms(x, w, eps=1e-6):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

    def rope(x, pos):
        ang = pos[:, None] * inv[None, :]
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return np.concatenate([x1 * c - x2 * s, x1 * s + x2 * c], -1)

    results = []
    for ids in json.load(open(ids_path)):
        L = len(ids)
        pos = np.arange(L, dtype=np.float64)
        h = W["model.embed_tokens.weight"][ids]
        for i in range(layers):
            p = f"model.layers.{i}."
            x = rms(h, W[p + "input_layernorm.weight"])
            q = x @ W[p + "self_attn.q_proj.weight"].T + W.get(p + "self_attn.q_proj.bias", 0)
            k = x @ W[p + "self_attn.k_proj.weight"].T + W.get(p + "self_attn.k_proj.bias", 0)
            v = x @ W[p + "self_attn.v_proj.weight"].T + W.get(p + "self_attn.v_proj.bias", 0)
            q, k, v = q.reshape(L, n_head, hd), k.reshape(L, n_kv, hd), v.reshape(L, n_kv, hd)
            if arch == "qwen3":
                q, k = rms(q, W[p + "self_attn.q_norm.weight"]), rms(k, W[p + "self_attn.k_norm.weight"])
            q, k = rope(q, pos), rope(k, pos)
            k, v = np.repeat(k, n_head // n_kv, 1), np.repeat(v, n_head // n_kv, 1)
            att = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd) + np.triu(np.full((L, L), -np.inf), 1)[None]
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            h = h + np.einsum("hqk,khd->qhd", att, v).reshape(L, -1) @ W[p + "self_attn.o_proj.weight"].T
            x = rms(h, W[p + "post_attention_layernorm.weight"])
            g, u = x @ W[p + "mlp.gate_proj.weight"].T, x @ W[p + "mlp.up_proj.weight"].T
            h = h + (g / (1 + np.exp(-g)) * u) @ W[p + "mlp.down_proj.weight"].T
        h = rms(h, W["model.norm.weight"])
        head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
        results.append((h @ head.T).tolist())
    json.dump(results, open(logits_path, "w"))


if __name__ == "__main__":
    main()
