// Writes a random-weight Mixtral checkpoint (config.json + one bf16 model.safetensors) for tests
// that need a *slow* model: the golden fixtures decode a token in microseconds, so a whole run
// finishes before the JS thread sees its first token, and "cancel mid-stream" or "a timer fires
// during generation" could not be observed. Sizes are chosen for ~5-20 ms per token on one thread.
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';

export interface SyntheticShape {
  vocab: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  experts: number;
  topK: number;
  maxPositions: number;
}

export const SLOW_SHAPE: SyntheticShape = {
  vocab: 512,
  hidden: 512,
  intermediate: 2048,
  layers: 4,
  heads: 8,
  kvHeads: 4,
  experts: 2,
  topK: 2,
  maxPositions: 4096,
};

function tensorShapes(s: SyntheticShape): [string, number[]][] {
  const headDim = s.hidden / s.heads;
  const out: [string, number[]][] = [
    ['model.embed_tokens.weight', [s.vocab, s.hidden]],
    ['model.norm.weight', [s.hidden]],
    ['lm_head.weight', [s.vocab, s.hidden]],
  ];
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    out.push([`${p}.input_layernorm.weight`, [s.hidden]]);
    out.push([`${p}.post_attention_layernorm.weight`, [s.hidden]]);
    out.push([`${p}.self_attn.q_proj.weight`, [s.heads * headDim, s.hidden]]);
    out.push([`${p}.self_attn.k_proj.weight`, [s.kvHeads * headDim, s.hidden]]);
    out.push([`${p}.self_attn.v_proj.weight`, [s.kvHeads * headDim, s.hidden]]);
    out.push([`${p}.self_attn.o_proj.weight`, [s.hidden, s.heads * headDim]]);
    out.push([`${p}.block_sparse_moe.gate.weight`, [s.experts, s.hidden]]);
    for (let e = 0; e < s.experts; e++) {
      out.push([`${p}.block_sparse_moe.experts.${e}.w1.weight`, [s.intermediate, s.hidden]]);
      out.push([`${p}.block_sparse_moe.experts.${e}.w2.weight`, [s.hidden, s.intermediate]]);
      out.push([`${p}.block_sparse_moe.experts.${e}.w3.weight`, [s.intermediate, s.hidden]]);
    }
  }
  return out;
}

/** bf16 bit patterns of a small uniform random pool (deterministic), tiled over every tensor. */
function randomPool(count: number, scale: number): Buffer {
  const buf = Buffer.alloc(count * 2);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  let x = 0x9e3779b9;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    f[0] = ((x >>> 0) / 0xffffffff - 0.5) * 2 * scale;
    buf.writeUInt16LE(u[0] >>> 16, i * 2);
  }
  return buf;
}

const BF16_ONE = 0x3f80;

export function writeSyntheticModel(dir: string, s: SyntheticShape = SLOW_SHAPE): string {
  mkdirSync(dir, { recursive: true });
  const tensors = tensorShapes(s);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, shape] of tensors) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    header[name] = { dtype: 'BF16', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // keep the data 8-byte aligned
  const fd = openSync(path.join(dir, 'model.safetensors'), 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json, 'utf8'));
    const pool = randomPool(1 << 16, 0.05);
    for (const [name, shape] of tensors) {
      const count = shape.reduce((a, b) => a * b, 1);
      if (name.endsWith('norm.weight')) {
        const ones = Buffer.alloc(count * 2);
        for (let i = 0; i < count; i++) ones.writeUInt16LE(BF16_ONE, i * 2);
        writeSync(fd, ones);
        continue;
      }
      for (let written = 0; written < count; written += pool.length / 2) {
        writeSync(fd, pool, 0, Math.min(pool.length, (count - written) * 2));
      }
    }
  } finally {
    closeSync(fd);
  }
  const config = {
    architectures: ['MixtralForCausalLM'],
    model_type: 'mixtral',
    vocab_size: s.vocab,
    hidden_size: s.hidden,
    intermediate_size: s.intermediate,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: s.kvHeads,
    num_local_experts: s.experts,
    num_experts_per_tok: s.topK,
    max_position_embeddings: s.maxPositions,
    rms_norm_eps: 1e-5,
    rope_theta: 1000000.0,
    sliding_window: null,
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'bfloat16',
  };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}
