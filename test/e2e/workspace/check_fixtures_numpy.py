#!/usr/bin/env python3
"""Recompute test/fixtures/embedded/ with a plain-numpy Mixtral forward pass (float32, from the
shipped bf16 shards) and compare with what transformers recorded: a third, independent check that
the shipped checkpoint, its config and the fixtures belong together. Needs only numpy.

  python3 models/scripts/check_fixtures_numpy.py
"""
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(REPO, "test", "fixtures", "embedded")


def load_safetensors(folder):
    index = json.load(open(os.path.join(folder, "model.safetensors.index.json")))
    tensors = {}
    for shard in sorted(set(index["weight_map"].values())):
        raw = open(os.path.join(folder, shard), "rb").read()
        n = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8:8 + n])
        base = 8 + n
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            a, b = meta["data_offsets"]
            assert meta["dtype"] == "BF16", (name, meta["dtype"])
            u16 = np.frombuffer(raw[base + a:base + b], dtype=np.uint16)
            tensors[name] = (u16.astype(np.uint32) << 16).view(np.float32).reshape(meta["shape"])
    assert set(tensors) == set(index["weight_map"]), "index and shards disagree"
    return tensors


def rmsnorm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def forward(W, cfg, ids):
    T = len(ids)
    H, KV, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    E, K, eps = cfg["num_local_experts"], cfg["num_experts_per_tok"], cfg["rms_norm_eps"]
    theta = cfg.get("rope_theta") or cfg["rope_parameters"]["rope_theta"]
    inv = 1.0 / theta ** (np.arange(0, D, 2, dtype=np.float64) / D)
    ang = np.arange(T)[:, None] * inv[None]
    cos = np.cos(np.concatenate([ang, ang], -1)).astype(np.float32)[:, None]
    sin = np.sin(np.concatenate([ang, ang], -1)).astype(np.float32)[:, None]

    def rope(x):  # [T, heads, D], rotate_half convention
        x1, x2 = x[..., :D // 2], x[..., D // 2:]
        return x * cos + np.concatenate([-x2, x1], -1) * sin

    x = W["model.embed_tokens.weight"][ids].astype(np.float32)
    mask = np.triu(np.full((T, T), -np.inf, dtype=np.float32), 1)
    routing = []
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rmsnorm(x, W[p + "input_layernorm.weight"], eps)
        q = rope((h @ W[p + "self_attn.q_proj.weight"].T).reshape(T, H, D))
        k = rope((h @ W[p + "self_attn.k_proj.weight"].T).reshape(T, KV, D))
        v = (h @ W[p + "self_attn.v_proj.weight"].T).reshape(T, KV, D)
        out = np.empty((T, H, D), dtype=np.float32)
        for hh in range(H):
            kv = hh // (H // KV)
            s = q[:, hh] @ k[:, kv].T / np.sqrt(D) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            out[:, hh] = (s / s.sum(-1, keepdims=True)) @ v[:, kv]
        x = x + out.reshape(T, H * D) @ W[p + "self_attn.o_proj.weight"].T
        h = rmsnorm(x, W[p + "post_attention_layernorm.weight"], eps)
        logits = h @ W[p + "block_sparse_moe.gate.weight"].T
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        top = np.argsort(-logits, -1, kind="stable")[:, :K]
        routing.append(top)
        moe = np.zeros_like(x)
        for t in range(T):
            w = probs[t, top[t]]
            w = w / w.sum()
            for e, we in zip(top[t], w):
                q_ = f"{p}block_sparse_moe.experts.{e}."
                a = W[q_ + "w1.weight"] @ h[t]
                g = a / (1 + np.exp(-a)) * (W[q_ + "w3.weight"] @ h[t])
                moe[t] += we * (W[q_ + "w2.weight"] @ g)
        x = x + moe
    x = rmsnorm(x, W["model.norm.weight"], eps)
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    return x @ head.T, np.stack(routing, 1)  # [T, V], [T, L, K]


def main():
    ref = json.load(open(os.path.join(FIX, "reference.json")))
    folder = os.path.normpath(os.path.join(FIX, ref["model_dir"]))
    cfg = json.load(open(os.path.join(folder, "config.json")))
    W = load_safetensors(folder)
    assert cfg["tie_word_embeddings"] and "lm_head.weight" not in W
    worst = 0.0
    ok = True
    for i, case in enumerate(ref["cases"]):
        ids = case["prompt"] + case["greedy"]
        logits, routing = forward(W, cfg, ids)
        want = np.load(os.path.join(FIX, case["logits"]))
        got = logits[case["logits_positions"]]
        err = float(np.abs(got - want).max())
        worst = max(worst, err)
        greedy = [int(np.argmax(logits[t])) for t in range(len(case["prompt"]) - 1, len(ids) - 1)]
        route_diff = int((np.sort(routing, -1) != np.sort(np.array(case["routing"]), -1)).any(-1).sum())
        good = err < 2e-3 and greedy == case["greedy"]
        ok &= good
        print(f"{case['name']:>15}: T={len(ids)} max|logit diff|={err:.2e} greedy {'same' if greedy == case['greedy'] else 'DIFFERENT'} "
              f"routing sets differing at {route_diff} (position, layer) pairs "
              f"(min routing margin {case['min_routing_logit_margin']:.1e})")
    print("OK" if ok else "MISMATCH", f"worst logit diff {worst:.2e}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
