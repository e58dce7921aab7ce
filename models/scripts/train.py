#!/usr/bin/env python3
"""Train localmoe-code-tiny on the GPU machine, then measure routing statistics, write greedy
samples and the reference fixtures (test/fixtures/embedded/), all in one run.

Needs torch, transformers (MixtralForCausalLM), tokenizers, safetensors, numpy, one CUDA GPU, and
the corpus built by models/scripts/build_corpus.py in .corpus/ (carried to the GPU machine).

  python3 models/scripts/train.py --out DIR [--minutes 7.3] [--smoke]
  stage 2 of the shipped model (continue with a per-layer router balancing loss):
  python3 models/scripts/train.py --out DIR --minutes 2.8 --init-from models/localmoe-code-tiny \
      --balance per-layer --aux-coef 0.02 --lr 6e-4 --warmup 50

Writes under DIR:
  model/        the checkpoint (save_pretrained, bf16, sharded at 12 MB, tied embeddings)
  results/      train_log.jsonl, summary.json (losses, baselines), routing_stats.json, samples.md
  embedded/     reference.json + logits_<i>.npy: the engine's fixtures for this model
Every stage after training is wrapped so a failure there still leaves the checkpoint.
"""
import argparse
import json
import lzma
import math
import os
import random
import sys
import time
import traceback

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from tokenizers import Tokenizer
from transformers import MixtralConfig, MixtralForCausalLM

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL_DIR = os.path.join(REPO, "models", "localmoe-code-tiny")
SEP = "\x1e"

CONFIG = dict(
    vocab_size=32000, hidden_size=224, intermediate_size=256, num_hidden_layers=8,
    num_attention_heads=8, num_key_value_heads=2, head_dim=32, num_local_experts=8,
    num_experts_per_tok=2, rope_theta=10000.0, rms_norm_eps=1e-5, max_position_embeddings=2048,
    sliding_window=None, tie_word_embeddings=True, router_aux_loss_coef=0.01,
    output_router_logits=False, router_jitter_noise=0.0, initializer_range=0.02,
    bos_token_id=1, eos_token_id=2, pad_token_id=None, attention_dropout=0.0,
)

SAMPLE_PROMPTS = [
    "def fibonacci(n):\n",
    "def is_prime(n):\n    \"\"\"Return True if n is a prime number.\"\"\"\n",
    "import os\nimport sys\n\n\ndef main():\n",
    "class Stack:\n    def __init__(self):\n",
    "def read_json(path):\n",
    "for i in range(10):\n",
    "function debounce(fn, ms) {\n",
    "const express = require('express');\n",
    "export function clamp(value, min, max) {\n",
    "#include <stdio.h>\n\nint main(int argc, char **argv) {\n",
    "typedef struct {\n",
    "/**\n * Returns the sum of two numbers.\n */\nfunction add(a, b) {\n",
    # as the sidecar builds an inline-completion prompt (src/sidecar/completion-prompt.ts)
    "# File: utils/strings.py\n# Language: python\ndef slugify(text):\n",
    "# File: app/models.py\n# Language: python\nimport json\n\n\nclass Config:\n    def __init__(self, path):\n",
    "// File: src/array.ts\n// Language: typescript\nexport function chunk<T>(items: T[], size: number): T[][] {\n",
    "// File: src/list.c\n// Language: c\n#include <stdlib.h>\n\nstruct node {\n",
]
CHAT_SAMPLES = [
    "Write a Python function `reverse_words(s)` that returns the words of s in reverse order.",
    "Write a JavaScript function `sum` that adds up the numbers of an array.",
]


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# ------------------------------------------------------------------------------------------ data
def load_docs(corpus, name, limit=None):
    with lzma.open(os.path.join(corpus, name)) as f:
        docs = f.read().decode().split(SEP)
    return docs[:limit] if limit else docs


def encode_docs(tok, docs, wrap):
    out = []
    for i in range(0, len(docs), 2048):
        for e in tok.encode_batch(docs[i:i + 2048], add_special_tokens=False):
            ids = e.ids
            out.append(([1] + ids + [2]) if wrap else ids)
    return out


def stream(seqs):
    return np.fromiter((t for s in seqs for t in s), dtype=np.int32)


# ------------------------------------------------------------------------------------------ model
def find_gate(layer, n_experts):
    for name, m in layer.named_modules():
        w = getattr(m, "weight", None)
        if name.split(".")[-1] == "gate" and w is not None and w.dim() == 2 and w.shape[0] == n_experts:
            return m
    raise RuntimeError("router gate not found")


def param_groups(model, wd):
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (decay if p.dim() >= 2 and "norm" not in n else no_decay).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


@torch.no_grad()
def evaluate(model, data, seq, batch, max_windows=None):
    """Mean next-token cross-entropy (nats) over non-overlapping windows of `data`."""
    model.eval()
    n = (len(data) - 1) // seq
    if max_windows:
        n = min(n, max_windows)
    tot, cnt = 0.0, 0
    for b in range(0, n, batch):
        rows = [data[i * seq:(i + 1) * seq + 1] for i in range(b, min(n, b + batch))]
        x = torch.tensor(np.stack(rows), dtype=torch.long, device="cuda")
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=x[:, :-1], use_cache=False).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum")
        tot += float(loss)
        cnt += x[:, 1:].numel()
    model.train()
    return tot / max(cnt, 1)


def unigram_baseline(train, held, vocab):
    counts = np.bincount(train, minlength=vocab).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[held[1:]].mean())


def layer_balance_loss(router_logits, n_experts, top_k):
    """Switch-Transformer load-balancing loss of one layer (same formula as transformers'
    load_balancing_loss_func, value top_k when perfectly balanced)."""
    probs = torch.softmax(router_logits.float(), dim=-1)
    sel = torch.topk(probs, top_k, dim=-1).indices
    mask = F.one_hot(sel, n_experts).float()          # [N, K, E]
    tokens_per_expert = mask.mean(dim=0)              # [K, E]
    prob_per_expert = probs.mean(dim=0)               # [E]
    return (tokens_per_expert * prob_per_expert[None]).sum() * n_experts


def train(args, tok, out):
    t_start = time.time()
    limit = 400 if args.smoke else None
    code = load_docs(args.corpus, "train_code.txt.xz", limit)
    inst = load_docs(args.corpus, "train_inst.txt.xz", limit)
    h_code = load_docs(args.corpus, "heldout_code.txt.xz", 40 if args.smoke else None)
    h_inst = load_docs(args.corpus, "heldout_inst.txt.xz")
    seqs = encode_docs(tok, code, True) + encode_docs(tok, inst, False)
    random.Random(0).shuffle(seqs)
    data = stream(seqs)
    held = stream(encode_docs(tok, h_code, True))
    held_inst = stream(encode_docs(tok, h_inst, False))
    log(f"tokenized: train {len(data)/1e6:.2f}M tokens ({len(seqs)} docs), held-out code {len(held)/1e6:.3f}M, "
        f"held-out instructions {len(held_inst)/1e6:.3f}M, {time.time()-t_start:.1f}s")

    torch.manual_seed(0)
    if args.init_from:  # continue training a checkpoint (stage 2 of the recipe)
        model = MixtralForCausalLM.from_pretrained(args.init_from, dtype=torch.bfloat16).float().cuda()
        config = model.config
        log(f"initialised from {args.init_from}")
    else:
        config = MixtralConfig(**CONFIG)
        model = MixtralForCausalLM(config).cuda()
    model.train()
    # "per-layer": HF's load_balancing_loss_func pools the router logits of all layers before
    # balancing, so one layer can keep dead experts while another compensates; we add the same
    # Switch-style loss computed for each layer separately (mean over layers) instead.
    per_layer = args.balance == "per-layer"
    model.router_aux_loss_coef = 0.0 if per_layer else args.aux_coef
    config.router_aux_loss_coef = args.aux_coef
    model.config._attn_implementation = "sdpa"
    n_params = sum(p.numel() for p in model.parameters())
    log(f"params {n_params/1e6:.2f}M (embedding {config.vocab_size*config.hidden_size/1e6:.2f}M, tied)")

    # pick the fastest experts implementation that works here
    seq, batch = args.seq, args.batch
    x0 = torch.tensor(np.stack([data[i:i + seq + 1] for i in range(0, batch * seq, seq)]), dtype=torch.long, device="cuda")
    best = None
    for impl in ["grouped_mm", "eager"]:
        try:
            model.config._experts_implementation = impl
            for k in range(4):
                if k == 1:
                    torch.cuda.synchronize(); t0 = time.time()
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    o = model(input_ids=x0[:, :-1], labels=x0[:, :-1], output_router_logits=True, use_cache=False)
                o.loss.backward()
            torch.cuda.synchronize()
            dt = (time.time() - t0) / 3
            log(f"experts_implementation={impl}: {dt*1000:.0f} ms/step (fwd+bwd, {batch}x{seq})")
            if best is None or dt < best[1]:
                best = (impl, dt)
        except Exception as e:  # noqa: BLE001
            log(f"experts_implementation={impl} failed: {type(e).__name__}: {str(e)[:200]}")
    model.zero_grad(set_to_none=True)
    model.config._experts_implementation = best[0]
    log(f"using {best[0]}")

    opt = torch.optim.AdamW(param_groups(model, 0.1), lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    budget = args.minutes * 60
    warmup = args.warmup if not args.smoke else 10
    rng = np.random.default_rng(0)
    logf = open(os.path.join(out["results"], "train_log.jsonl"), "w")
    t0 = time.time()
    step, tokens = 0, 0
    ema = None
    while True:
        el = time.time() - t0
        frac = min(1.0, el / budget)
        if frac >= 1.0:
            break
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = rng.integers(0, len(data) - seq - 1, size=batch)
        x = torch.from_numpy(np.stack([data[s:s + seq] for s in starts]).astype(np.int64)).cuda(non_blocking=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            o = model(input_ids=x, labels=x, output_router_logits=True, use_cache=False)
            loss = o.loss
            if per_layer:
                aux_pl = torch.stack([layer_balance_loss(r, config.num_local_experts, config.num_experts_per_tok)
                                      for r in o.router_logits]).mean()
                loss = loss + args.aux_coef * aux_pl
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        tokens += x.numel()
        if step % 25 == 0 or step == 1:
            l = o.loss.item()
            aux = aux_pl.item() if per_layer else (o.aux_loss.item() if o.aux_loss is not None else float("nan"))
            ema = l if ema is None else 0.9 * ema + 0.1 * l
            rec = {"step": step, "t": round(time.time() - t0, 1), "lr": lr, "loss": l, "aux": aux,
                   "gnorm": float(gn), "tokens": tokens}
            logf.write(json.dumps(rec) + "\n"); logf.flush()
            if step % 200 == 0 or step == 1:
                log(json.dumps(rec))
        if step % 500 == 0 and not args.smoke:
            try:
                log(f"step {step}: held-out loss (20 windows) {evaluate(model, held, seq, 32, 20):.4f}")
            except Exception as e:  # noqa: BLE001
                log(f"in-training eval failed: {e}")
    train_time = time.time() - t0
    log(f"trained {step} steps, {tokens/1e6:.1f}M tokens ({tokens/len(data):.2f} epochs) in {train_time:.0f}s")

    # save bf16 checkpoint
    model.config._experts_implementation = "eager"
    model_bf16 = model.to(torch.bfloat16)
    model_bf16.config.output_router_logits = False
    model_bf16.save_pretrained(out["model"], max_shard_size="12MB")
    log("saved:", sorted(os.listdir(out["model"])))

    summary = {
        "transformers": transformers.__version__, "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0), "config": CONFIG, "params": n_params,
        "experts_implementation": best[0], "step_ms_probe": best[1] * 1000,
        "seq": seq, "batch": batch, "lr": args.lr, "warmup": warmup, "steps": step,
        "train_tokens_seen": tokens, "train_tokens": int(len(data)), "epochs": tokens / len(data),
        "train_seconds": train_time,
        "heldout_code_tokens": int(len(held)), "heldout_inst_tokens": int(len(held_inst)),
        "unigram_heldout_code": unigram_baseline(data, held, config.vocab_size),
        "unigram_heldout_inst": unigram_baseline(data, held_inst, config.vocab_size),
        "final_train_loss_ema": ema, "init_from": args.init_from, "balance": args.balance,
        "aux_coef": args.aux_coef,
    }
    return summary, held, held_inst


def reload_bf16_as_fp32(path, experts="eager"):
    model = MixtralForCausalLM.from_pretrained(path, dtype=torch.bfloat16)
    model = model.float().cuda().eval()  # exact upcast of the stored bf16 weights
    model.config._attn_implementation = "eager"
    model.config._experts_implementation = experts
    return model


# ------------------------------------------------------------------------------------------ stats
@torch.no_grad()
def routing_stats(model, held, seq=1024, max_windows=64):
    cfg = model.config
    L, E, K = cfg.num_hidden_layers, cfg.num_local_experts, cfg.num_experts_per_tok
    layers = model.model.layers
    gates = [find_gate(layers[l], E) for l in range(L)]
    post_norms = [layers[l].post_attention_layernorm for l in range(L)]
    mids = {}
    hooks = [post_norms[l].register_forward_pre_hook(lambda m, a, l=l: mids.__setitem__(l, a[0].detach()))
             for l in range(L)]
    usage = np.zeros((L, E))
    prev_overlap = np.zeros(L); prev_both = np.zeros(L); prev_cnt = 0
    lru_hits = {k: np.zeros(L) for k in (2, 3, 4)}; lru_cnt = 0
    spec = {v: np.zeros(L - 1) for v in ("input_l", "after_attn_l", "input_l1", "self_check")}
    spec_cnt = 0
    n = min(max_windows, (len(held) - 1) // seq)
    for w in range(n):
        x = torch.tensor(held[w * seq:(w + 1) * seq], dtype=torch.long, device="cuda")[None]
        o = model(input_ids=x, output_router_logits=True, output_hidden_states=True, use_cache=False)
        top = [torch.topk(r.float(), K, dim=-1).indices.cpu().numpy() for r in o.router_logits]  # [T, K]
        T = x.shape[1]
        for l in range(L):
            usage[l] += np.bincount(top[l].reshape(-1), minlength=E)
            sets = [set(r) for r in top[l]]
            ov = [len(sets[t] & sets[t - 1]) / K for t in range(1, T)]
            prev_overlap[l] += sum(ov)
            prev_both[l] += sum(1 for v in ov if v == 1.0)
            for k in lru_hits:  # per-layer LRU cache of k experts, hit = expert already cached
                cache = []
                hits = 0
                for t in range(T):
                    for e in top[l][t]:
                        if e in cache:
                            hits += 1
                            cache.remove(e)
                        cache.append(e)
                        if len(cache) > k:
                            cache.pop(0)
                lru_hits[k][l] += hits
        prev_cnt += T - 1
        lru_cnt += T * K
        hs = o.hidden_states  # hs[l] = residual stream entering layer l
        for l in range(L - 1):
            true = top[l + 1]
            for v, h in (("input_l", hs[l]), ("after_attn_l", mids[l]), ("input_l1", hs[l + 1]),
                         ("self_check", mids[l + 1])):
                logits = F.linear(post_norms[l + 1](h), gates[l + 1].weight).reshape(-1, E)
                pred = torch.topk(logits.float(), K, dim=-1).indices.cpu().numpy()
                spec[v][l] += sum(len(set(pred[t]) & set(true[t])) / K for t in range(T))
        spec_cnt += T
    for h in hooks:
        h.remove()
    frac = usage / usage.sum(axis=1, keepdims=True)
    ent = -(frac * np.log(np.maximum(frac, 1e-12))).sum(axis=1) / np.log(E)
    return {
        "tokens": int(n * seq),
        "expert_usage": frac.round(4).tolist(),
        "usage_entropy_normalized": ent.round(4).tolist(),
        "prev_token_expert_overlap": (prev_overlap / prev_cnt).round(4).tolist(),
        "prev_token_both_experts_reused": (prev_both / prev_cnt).round(4).tolist(),
        "lru_hit_rate": {str(k): (v / lru_cnt).round(4).tolist() for k, v in lru_hits.items()},
        "uniform_random_lru_hit_rate": {str(k): k / E for k in lru_hits},
        "speculative_top2_recall": {v: (a / spec_cnt).round(4).tolist() for v, a in spec.items()},
        "note": "speculative: layer l+1's post-attention RMSNorm + gate applied to (input_l) the residual "
                "stream entering layer l, (after_attn_l) after layer l's attention, (input_l1) entering "
                "layer l+1; recall = |predicted top-2 & true top-2| / 2; index l of the lists is layer l+1",
    }


@torch.no_grad()
def greedy_samples(model, tok, max_new=64):
    out = []
    prompts = [(p, [1] + tok.encode(p, add_special_tokens=False).ids) for p in SAMPLE_PROMPTS]
    for c in CHAT_SAMPLES:
        text = "<s>[INST] " + c + " [/INST]"
        prompts.append((text, tok.encode(text, add_special_tokens=False).ids))
    for text, ids in prompts:
        x = torch.tensor([ids], device="cuda")
        g = model.generate(x, max_new_tokens=max_new, do_sample=False, eos_token_id=2, pad_token_id=2)
        new = g[0, len(ids):].tolist()
        # decode prompt+completion and cut: decoding the new ids alone would drop SentencePiece's
        # leading space of the first token
        head = tok.decode(ids, skip_special_tokens=False)
        full = tok.decode(ids + new, skip_special_tokens=False)
        completion = full[len(head):] if full.startswith(head) else tok.decode(new, skip_special_tokens=False)
        out.append({"prompt": text, "completion": completion, "prompt_ids": ids, "ids": new})
    return out


# ------------------------------------------------------------------------------------------ fixtures
def forward(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids], device="cuda"), output_router_logits=True, use_cache=False)


def fixture_prompts(tok, held):
    def enc(text):
        return tok.encode(text, add_special_tokens=False).ids
    chat = "<s>[INST] Write a Python function that reverses a string. [/INST]"
    # An inline completion in the middle of a function, built as the sidecar builds it
    # (src/sidecar/completion-prompt.ts: header comments + prefix; the suffix "    return result"
    # only becomes a stop sequence, since the model has no FIM tokens).
    fim = "# File: src/math_utils.py\n# Language: python\ndef factorial(n):\n    result = 1\n    for i in range(2, n + 1):\n"
    long_ids = [1] + held[1:160].tolist() if held[0] == 1 else [1] + held[:159].tolist()
    return [
        ("python", [1] + enc("def fibonacci(n):")),
        ("chat", enc(chat)),
        ("completion-fim", [1] + enc(fim)),
        ("javascript", [1] + enc("function debounce(fn, ms) {\n")),
        ("heldout-160", [int(t) for t in long_ids]),
    ]


def make_fixtures(model_path, tok, held, outdir, greedy_tokens=16, keep=4):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ref = reload_bf16_as_fp32(model_path)
    K = ref.config.num_experts_per_tok
    record = {"model": "localmoe-code-tiny", "model_dir": "../../../models/localmoe-code-tiny",
              "dtype": "bfloat16", "config_style": "transformers", "reference_dtype": "float32",
              "attention": "eager", "experts_implementation": "eager",
              "transformers": transformers.__version__, "torch": torch.__version__, "cases": []}
    for i, (name, prompt) in enumerate(fixture_prompts(tok, held)):
        ids = list(prompt)
        margins = []
        for _ in range(greedy_tokens):
            logits = forward(ref, ids).logits[0, -1].float()
            top2 = torch.topk(logits, 2).values
            margins.append(float(top2[0] - top2[1]))
            ids.append(int(torch.argmax(logits)))
        out = forward(ref, ids)
        T = len(ids)
        logits = out.logits[0].float().cpu().numpy().astype(np.float32)
        positions = list(range(T - keep, T))
        routing, route_margin = [], float("inf")
        for layer_logits in out.router_logits:
            probs = layer_logits.float()
            vals, idx = torch.topk(probs, K + 1, dim=-1)
            route_margin = min(route_margin, float((vals[:, K - 1] - vals[:, K]).min()))
            routing.append(idx[:, :K].cpu().tolist())
        routing_tlk = [[routing[l][t] for l in range(len(routing))] for t in range(T)]
        np.save(os.path.join(outdir, f"logits_{i}.npy"), np.ascontiguousarray(logits[positions]))
        record["cases"].append({
            "name": name, "prompt": prompt, "greedy": ids[len(prompt):], "text": tok.decode(ids),
            "logits": f"logits_{i}.npy", "logits_positions": positions, "routing": routing_tlk,
            "greedy_margins": margins, "min_greedy_margin": min(margins),
            "min_routing_logit_margin": route_margin,
        })
        log(f"fixture {name}: T={T} min greedy margin {min(margins):.4f} min routing margin {route_margin:.5f}")
    with open(os.path.join(outdir, "reference.json"), "w") as f:
        json.dump(record, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--corpus", default=os.path.join(REPO, ".corpus"))
    ap.add_argument("--minutes", type=float, default=7.3)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--init-from", help="continue training this checkpoint folder")
    ap.add_argument("--balance", choices=["pooled", "per-layer"], default="pooled",
                    help="router load-balancing loss: transformers' (pooled over layers) or per layer")
    ap.add_argument("--aux-coef", type=float, default=0.01)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    out = {k: os.path.join(args.out, k) for k in ("model", "results", "embedded")}
    for d in out.values():
        os.makedirs(d, exist_ok=True)
    torch.backends.cuda.matmul.allow_tf32 = True
    tok = Tokenizer.from_file(os.path.join(MODEL_DIR, "tokenizer.json"))
    assert tok.encode("def fibonacci(n):").ids == [1, 801, 16182, 266, 28127, 28732, 28711, 1329], tok.encode("def fibonacci(n):").ids

    summary, held, held_inst = train(args, tok, out)

    def stage(name, fn):
        t = time.time()
        try:
            fn()
            log(f"{name} done in {time.time()-t:.0f}s")
        except Exception:  # noqa: BLE001
            log(f"{name} FAILED\n{traceback.format_exc()}")
            summary.setdefault("failed", []).append(name)

    def do_eval():
        m = reload_bf16_as_fp32(out["model"], experts="eager")
        m.config._attn_implementation = "sdpa"
        summary["heldout_code_loss"] = evaluate(m, held, args.seq, 16)
        summary["heldout_inst_loss"] = evaluate(m, held_inst, args.seq, 16)
        log(f"held-out loss: code {summary['heldout_code_loss']:.4f}, instructions {summary['heldout_inst_loss']:.4f}; "
            f"unigram {summary.get('unigram_heldout_code')}")

    def do_stats():
        m = reload_bf16_as_fp32(out["model"], experts="eager")
        m.config._attn_implementation = "sdpa"
        st = routing_stats(m, held, args.seq, 8 if args.smoke else 64)
        json.dump(st, open(os.path.join(out["results"], "routing_stats.json"), "w"), indent=1)
        for k in ("prev_token_expert_overlap", "speculative_top2_recall", "lru_hit_rate", "usage_entropy_normalized"):
            log(k, json.dumps(st[k]))

    def do_samples():
        m = reload_bf16_as_fp32(out["model"], experts="eager")
        m.config._attn_implementation = "sdpa"
        s = greedy_samples(m, tok)
        json.dump(s, open(os.path.join(out["results"], "samples.json"), "w"), indent=1, ensure_ascii=False)
        for r in s[:3]:
            log(repr(r["prompt"]), "->", repr(r["completion"]))

    stage("eval", do_eval)
    stage("fixtures", lambda: make_fixtures(out["model"], tok, held, out["embedded"]))
    stage("routing_stats", do_stats)
    stage("samples", do_samples)
    with open(os.path.join(out["results"], "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    log(json.dumps({k: v for k, v in summary.items() if k != "config"}))


if __name__ == "__main__":
    sys.exit(main())
