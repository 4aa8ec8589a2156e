/**
 * Random-weight checkpoints with a real model's shapes, built in memory for the benches. Tensors
 * are made when first asked for (a Map whose get() builds them), so the runner's upload, which
 * drops each after use, never holds a 28-layer model's f16 copy on the host at once.
 * @module
 */
import type { HostTensor, LoadedCheckpoint, ModelSpec } from "../src/model/spec.ts";

/** A ModelSpec from the fields that differ from a small llama's defaults. */
export function spec(s: Partial<ModelSpec>): ModelSpec {
  return {
    arch: "llama",
    hiddenSize: 0,
    intermediateSize: 0,
    numLayers: 0,
    numHeads: 0,
    numKvHeads: 0,
    headDim: 0,
    vocabSize: 0,
    maxPositionEmbeddings: 4096,
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    tieWordEmbeddings: false,
    qkvBias: false,
    qkNorm: false,
    bosTokenId: null,
    eosTokenIds: [],
    ...s,
  };
}

/** DeepSeek-R1-Distill-Qwen-1.5B's shapes with `numLayers` of its 28 layers. */
export function r1Shapes(numLayers: number): ModelSpec {
  return spec({
    arch: "qwen2",
    hiddenSize: 1536,
    intermediateSize: 8960,
    numLayers,
    numHeads: 12,
    numKvHeads: 2,
    headDim: 128,
    vocabSize: 151936,
    qkvBias: true,
  });
}

/** Small random f16 values (|x| < 0.05), tiled by randomTensor so gigabytes build in ms. */
export const RANDOM_F16_BLOCK: Uint16Array = (() => {
  const out = new Uint16Array(1 << 19);
  let s = 12345;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = 0x2000 | (s >>> 22) | ((s & 1) << 15);
  }
  return out;
})();

/** A tensor of small random f16 values. */
export function randomTensor(name: string, shape: readonly number[]): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const bits = new Uint16Array(n);
  for (let at = 0; at < n; at += RANDOM_F16_BLOCK.length) {
    bits.set(RANDOM_F16_BLOCK.subarray(0, Math.min(RANDOM_F16_BLOCK.length, n - at)), at);
  }
  return { name, dtype: "F16", shape, bytes: new Uint8Array(bits.buffer) };
}

/** The names and shapes of every tensor of a checkpoint of `s`. */
export function tensorShapes(s: ModelSpec): Map<string, number[]> {
  const t = new Map<string, number[]>();
  const [h, q, kv] = [s.hiddenSize, s.numHeads * s.headDim, s.numKvHeads * s.headDim];
  t.set("model.embed_tokens.weight", [s.vocabSize, h]);
  if (!s.tieWordEmbeddings) t.set("lm_head.weight", [s.vocabSize, h]);
  t.set("model.norm.weight", [h]);
  for (let l = 0; l < s.numLayers; l++) {
    const p = `model.layers.${l}`;
    t.set(`${p}.input_layernorm.weight`, [h]);
    t.set(`${p}.post_attention_layernorm.weight`, [h]);
    t.set(`${p}.self_attn.q_proj.weight`, [q, h]);
    t.set(`${p}.self_attn.k_proj.weight`, [kv, h]);
    t.set(`${p}.self_attn.v_proj.weight`, [kv, h]);
    t.set(`${p}.self_attn.o_proj.weight`, [h, q]);
    if (s.qkvBias) {
      t.set(`${p}.self_attn.q_proj.bias`, [q]);
      t.set(`${p}.self_attn.k_proj.bias`, [kv]);
      t.set(`${p}.self_attn.v_proj.bias`, [kv]);
    }
    if (s.qkNorm) {
      t.set(`${p}.self_attn.q_norm.weight`, [s.headDim]);
      t.set(`${p}.self_attn.k_norm.weight`, [s.headDim]);
    }
    t.set(`${p}.mlp.gate_proj.weight`, [s.intermediateSize, h]);
    t.set(`${p}.mlp.up_proj.weight`, [s.intermediateSize, h]);
    t.set(`${p}.mlp.down_proj.weight`, [h, s.intermediateSize]);
  }
  return t;
}

/** f16 bytes of every tensor of a checkpoint of `s`. */
export function checkpointBytes(s: ModelSpec): number {
  let n = 0;
  for (const shape of tensorShapes(s).values()) n += 2 * shape.reduce((a, b) => a * b, 1);
  return n;
}

/** Builds each tensor on get() and keeps none. */
class LazyTensors extends Map<string, HostTensor> {
  readonly #shapes: Map<string, number[]>;
  constructor(shapes: Map<string, number[]>) {
    super();
    this.#shapes = shapes;
  }
  override get(name: string): HostTensor | undefined {
    const shape = this.#shapes.get(name);
    return shape ? randomTensor(name, shape) : undefined;
  }
  override has(name: string): boolean {
    return this.#shapes.has(name);
  }
}

/** A random-weight checkpoint of `s`, tensors built on demand. */
export function randomCheckpoint(s: ModelSpec): LoadedCheckpoint {
  return { dir: "(in memory)", spec: s, tensors: new LazyTensors(tensorShapes(s)) };
}
