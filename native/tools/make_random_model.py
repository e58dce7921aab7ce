#!/usr/bin/env python3
"""Writes a random MixtralForCausalLM checkpoint (bf16 safetensors + config.json) for benchmarks.

Only numpy is needed (no torch). The weights are random (N(0, 0.02)-ish), so outputs are
meaningless; the shapes, dtype and file layout are what `moe run` timings depend on.

  python3 native/tools/make_random_model.py OUT_DIR [--hidden 256 --layers 6 --experts 8
      --intermediate 384 --heads 8 --kv-heads 2 --vocab 32000 --top-k 2 --seed 0]

Keep the output out of git (e.g. under build/).
"""
import argparse
import json
import os
import struct

import numpy as np


def bf16_bytes(a):
    """float32 array -> bf16 bytes (round to nearest even)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return r.tobytes()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--experts", type=int, default=8)
    p.add_argument("--intermediate", type=int, default=384)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--top-k", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    D, F, H, KV, V, E = a.hidden, a.intermediate, a.heads, a.kv_heads, a.vocab, a.experts
    Dh = D // H
    tensors = {}

    def w(name, *shape, scale=0.02):
        tensors[name] = (rng.standard_normal(shape, dtype=np.float32) * scale)

    w("model.embed_tokens.weight", V, D)
    w("lm_head.weight", V, D)
    tensors["model.norm.weight"] = np.ones(D, np.float32)
    for l in range(a.layers):
        pre = f"model.layers.{l}."
        tensors[pre + "input_layernorm.weight"] = np.ones(D, np.float32)
        tensors[pre + "post_attention_layernorm.weight"] = np.ones(D, np.float32)
        w(pre + "self_attn.q_proj.weight", H * Dh, D)
        w(pre + "self_attn.k_proj.weight", KV * Dh, D)
        w(pre + "self_attn.v_proj.weight", KV * Dh, D)
        w(pre + "self_attn.o_proj.weight", D, H * Dh)
        w(pre + "block_sparse_moe.gate.weight", E, D, scale=0.5)
        for e in range(E):
            w(pre + f"block_sparse_moe.experts.{e}.w1.weight", F, D)
            w(pre + f"block_sparse_moe.experts.{e}.w2.weight", D, F)
            w(pre + f"block_sparse_moe.experts.{e}.w3.weight", F, D)

    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        b = bf16_bytes(tensors[name])
        header[name] = {"dtype": "BF16", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)  # align the data buffer to 8 bytes
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    config = {
        "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_act": "silu",
        "vocab_size": V, "hidden_size": D, "intermediate_size": F, "num_hidden_layers": a.layers,
        "num_attention_heads": H, "num_key_value_heads": KV, "head_dim": None,
        "num_local_experts": E, "num_experts_per_tok": a.top_k, "max_position_embeddings": 4096,
        "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"}, "rms_norm_eps": 1e-5,
        "sliding_window": None, "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2,
        "dtype": "bfloat16",
    }
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    n = sum(t.size for t in tensors.values())
    print(f"wrote {a.out}: {n / 1e6:.1f} M params, {offset / 1e6:.1f} MB bf16")


if __name__ == "__main__":
    main()
