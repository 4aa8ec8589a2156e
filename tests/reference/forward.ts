/**
 * The reference forward pass: plain TypeScript, one token at a time, in the manner of
 * llama2.c's run.c. It is the oracle every GPU kernel and the runner are checked against, so it
 * favours being obviously right over being fast. Arithmetic is in f64 (JS numbers) and stored in
 * f32; options round weights and the KV cache to f16 the way the GPU stores them.
 * @module
 */
import type { RopeOracle } from "./rope_scaling.ts";
import type { LoadedCheckpoint, ModelSpec } from "../../src/model/spec.ts";
import { roundF16, toFloat32 } from "../../src/model/tensor_convert.ts";
import { rotationSigns } from "../../src/kv/rotation.ts";
import { rotateRows, unrotateRows } from "./hadamard.ts";

/** Rounding the GPU applies, mirrored so the oracle can match it bit for bit where it should. */
export interface ReferenceOptions {
  /** Round every weight to f16 first, as the GPU stores them. */
  f16Weights?: boolean;
  /** Round K and V to f16 when written to the cache, as the GPU's open block stores them. */
  f16Kv?: boolean;
  /**
   * Rotate q, k and v after RoPE by the engine's KV rotation (src/kv/rotation.ts) and the
   * attention output back, as a runner with `rotateKv` does; traces then hold rotated q, k, v.
   */
  rotateKv?: boolean;
  /** RoPE from the rope_scaling oracle (default: unscaled theta^(-2i/d)). */
  rope?: RopeOracle;
}

/** What one layer computed for one token (after q/k norm and RoPE; K and V as cached). */
export interface LayerTrace {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  /** Attention output before o_proj, (numHeads * headDim). */
  attn: Float32Array;
  /** Residual stream after the layer, (hiddenSize). */
  hidden: Float32Array;
}

/** Logits and per-layer intermediates of one forward step. */
export interface ForwardTrace {
  logits: Float32Array;
  layers: LayerTrace[];
}

/** f32 → f16 → f32 for every element, in place; returns the same array. */
export function roundArrayF16(values: Float32Array): Float32Array {
  for (let i = 0; i < values.length; i++) values[i] = roundF16(values[i]);
  return values;
}

/** out = W x for a row-major W of shape (rows, x.length), as torch.nn.Linear stores it. */
export function matvec(w: Float32Array, x: Float32Array, rows: number): Float32Array {
  const cols = x.length;
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    const base = r * cols;
    for (let c = 0; c < cols; c++) sum += w[base + c] * x[c];
    out[r] = sum;
  }
  return out;
}

/** RMSNorm of `x[offset, offset + weight.length)`, times the weight, as Llama and Qwen define it. */
export function rmsNorm(
  x: Float32Array,
  weight: Float32Array,
  eps: number,
  offset = 0,
): Float32Array {
  const n = weight.length;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += x[offset + i] * x[offset + i];
  const scale = 1 / Math.sqrt(ss / n + eps);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = x[offset + i] * scale * weight[i];
  return out;
}

/**
 * Rotates each head of `x` in place, Hugging Face rotate-half style: dim i pairs with i + d/2.
 * `rope` (scaled inverse frequencies and the cos/sin factor) replaces theta^(-2i/d) when given.
 */
export function applyRope(
  x: Float32Array,
  headDim: number,
  position: number,
  theta: number,
  rope?: RopeOracle,
): void {
  const half = headDim / 2;
  const scale = rope?.attentionFactor ?? 1;
  for (let h = 0; h < x.length / headDim; h++) {
    const base = h * headDim;
    for (let i = 0; i < half; i++) {
      const angle = position * (rope ? rope.invFreq[i] : Math.pow(theta, (-2 * i) / headDim));
      const cos = Math.cos(angle) * scale;
      const sin = Math.sin(angle) * scale;
      const a = x[base + i];
      const b = x[base + i + half];
      x[base + i] = a * cos - b * sin;
      x[base + i + half] = b * cos + a * sin;
    }
  }
}

/** silu(x) = x * sigmoid(x). */
export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

interface SeqCache {
  // [layer][position] → (numKvHeads * headDim)
  k: Float32Array[][];
  v: Float32Array[][];
}

/** A decoder-only transformer (llama, qwen2, qwen3) evaluated on the CPU, token by token. */
export class ReferenceModel {
  /** The spec of the checkpoint this model was built from. */
  readonly spec: ModelSpec;
  readonly #weights: Map<string, Float32Array>;
  readonly #f16Kv: boolean;
  readonly #signs: Float32Array | null;
  #rope?: RopeOracle;
  readonly #caches = new Map<number, SeqCache>();

  private constructor(
    spec: ModelSpec,
    weights: Map<string, Float32Array>,
    f16Kv: boolean,
    rotateKv: boolean,
  ) {
    this.spec = spec;
    this.#weights = weights;
    this.#f16Kv = f16Kv;
    this.#signs = rotateKv ? rotationSigns(spec.headDim) : null;
  }

  /** Builds the model from a loaded checkpoint, converting every tensor to f32 once. */
  static fromCheckpoint(ckpt: LoadedCheckpoint, opts: ReferenceOptions = {}): ReferenceModel {
    const weights = new Map<string, Float32Array>();
    for (const [name, tensor] of ckpt.tensors) {
      const values = toFloat32(tensor);
      weights.set(name, opts.f16Weights ? roundArrayF16(values) : values);
    }
    const model = new ReferenceModel(
      ckpt.spec,
      weights,
      opts.f16Kv ?? false,
      opts.rotateKv ?? false,
    );
    model.#rope = opts.rope;
    return model;
  }

  /** Logits for `tokenId` at `position` of sequence `seq`; positions 0..position-1 must be cached. */
  forward(tokenId: number, position: number, seq = 0): Float32Array {
    return this.forwardTrace(tokenId, position, seq).logits;
  }

  /** As forward(), also returning every layer's q, k, v, attention output and residual. */
  forwardTrace(tokenId: number, position: number, seq = 0): ForwardTrace {
    const s = this.spec;
    if (!Number.isInteger(tokenId) || tokenId < 0 || tokenId >= s.vocabSize) {
      throw new RangeError(`Token id ${tokenId} is outside the vocabulary of ${s.vocabSize}`);
    }
    const cache = this.#cache(seq);
    // Rewinding to an earlier position is allowed (it drops the later ones); skipping ahead is not.
    if (!Number.isInteger(position) || position < 0 || position > cache.k[0].length) {
      throw new RangeError(
        `Sequence ${seq} has ${
          cache.k[0].length
        } cached positions; cannot run position ${position}`,
      );
    }
    const embed = this.#w("model.embed_tokens.weight");
    const x = embed.slice(tokenId * s.hiddenSize, (tokenId + 1) * s.hiddenSize);
    const layers: LayerTrace[] = [];
    for (let l = 0; l < s.numLayers; l++) layers.push(this.#layer(l, x, position, cache));
    const normed = rmsNorm(x, this.#w("model.norm.weight"), s.rmsNormEps);
    const head = s.tieWordEmbeddings ? embed : this.#w("lm_head.weight");
    return { logits: matvec(head, normed, s.vocabSize), layers };
  }

  /** Forgets the cache of sequence `seq`, or of every sequence when none is given. */
  reset(seq?: number): void {
    if (seq === undefined) this.#caches.clear();
    else this.#caches.delete(seq);
  }

  /** Runs the prompt from position 0 of `seq`, then appends `n` argmax tokens; returns those n. */
  generateGreedy(promptIds: number[], n: number, seq = 0): number[] {
    if (promptIds.length === 0) {
      throw new RangeError("generateGreedy needs at least one prompt token");
    }
    this.reset(seq);
    let logits: Float32Array = new Float32Array(0);
    promptIds.forEach((id, pos) => logits = this.forward(id, pos, seq));
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const next = argmax(logits);
      out.push(next);
      if (i + 1 < n) logits = this.forward(next, promptIds.length + i, seq);
    }
    return out;
  }

  #layer(l: number, x: Float32Array, position: number, cache: SeqCache): LayerTrace {
    const s = this.spec;
    const p = `model.layers.${l}`;
    const qDim = s.numHeads * s.headDim;
    const kvDim = s.numKvHeads * s.headDim;

    // attention
    const h = rmsNorm(x, this.#w(`${p}.input_layernorm.weight`), s.rmsNormEps);
    const q = matvec(this.#w(`${p}.self_attn.q_proj.weight`), h, qDim);
    const k = matvec(this.#w(`${p}.self_attn.k_proj.weight`), h, kvDim);
    const v = matvec(this.#w(`${p}.self_attn.v_proj.weight`), h, kvDim);
    if (s.qkvBias) {
      addInPlace(q, this.#w(`${p}.self_attn.q_proj.bias`));
      addInPlace(k, this.#w(`${p}.self_attn.k_proj.bias`));
      addInPlace(v, this.#w(`${p}.self_attn.v_proj.bias`));
    }
    if (s.qkNorm) {
      this.#headNorm(q, this.#w(`${p}.self_attn.q_norm.weight`));
      this.#headNorm(k, this.#w(`${p}.self_attn.k_norm.weight`));
    }
    applyRope(q, s.headDim, position, s.ropeTheta, this.#rope);
    applyRope(k, s.headDim, position, s.ropeTheta, this.#rope);
    if (this.#signs) {
      for (const x of [q, k, v]) x.set(rotateRows(x, this.#signs));
    }
    if (this.#f16Kv) {
      roundArrayF16(k);
      roundArrayF16(v);
    }
    // Writing at `position` (not pushing) lets a caller recompute a position it already ran.
    cache.k[l][position] = k;
    cache.v[l][position] = v;
    cache.k[l].length = position + 1;
    cache.v[l].length = position + 1;
    let attn = this.#attention(q, cache.k[l], cache.v[l]);
    if (this.#signs) attn = unrotateRows(attn, this.#signs);
    addInPlace(x, matvec(this.#w(`${p}.self_attn.o_proj.weight`), attn, s.hiddenSize));

    // mlp (SwiGLU)
    const h2 = rmsNorm(x, this.#w(`${p}.post_attention_layernorm.weight`), s.rmsNormEps);
    const gate = matvec(this.#w(`${p}.mlp.gate_proj.weight`), h2, s.intermediateSize);
    const up = matvec(this.#w(`${p}.mlp.up_proj.weight`), h2, s.intermediateSize);
    for (let i = 0; i < gate.length; i++) gate[i] = silu(gate[i]) * up[i];
    addInPlace(x, matvec(this.#w(`${p}.mlp.down_proj.weight`), gate, s.hiddenSize));
    return { q, k, v, attn, hidden: x.slice() };
  }

  // Causal GQA: query head h reads kv head floor(h / (numHeads / numKvHeads)).
  #attention(q: Float32Array, keys: Float32Array[], values: Float32Array[]): Float32Array {
    const { numHeads, numKvHeads, headDim } = this.spec;
    const group = numHeads / numKvHeads;
    const scale = 1 / Math.sqrt(headDim);
    const out = new Float32Array(numHeads * headDim);
    const scores = new Float64Array(keys.length);
    for (let h = 0; h < numHeads; h++) {
      const qo = h * headDim;
      const ko = Math.floor(h / group) * headDim;
      let max = -Infinity;
      for (let t = 0; t < keys.length; t++) {
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += q[qo + d] * keys[t][ko + d];
        scores[t] = dot * scale;
        max = Math.max(max, scores[t]);
      }
      let sum = 0;
      for (let t = 0; t < keys.length; t++) sum += scores[t] = Math.exp(scores[t] - max);
      for (let d = 0; d < headDim; d++) {
        let acc = 0;
        for (let t = 0; t < keys.length; t++) acc += scores[t] * values[t][ko + d];
        out[qo + d] = acc / sum;
      }
    }
    return out;
  }

  #headNorm(x: Float32Array, weight: Float32Array): void {
    const d = this.spec.headDim;
    for (let o = 0; o < x.length; o += d) x.set(rmsNorm(x, weight, this.spec.rmsNormEps, o), o);
  }

  #cache(seq: number): SeqCache {
    let cache = this.#caches.get(seq);
    if (!cache) {
      const layers = () => Array.from({ length: this.spec.numLayers }, () => [] as Float32Array[]);
      cache = { k: layers(), v: layers() };
      this.#caches.set(seq, cache);
    }
    return cache;
  }

  #w(name: string): Float32Array {
    const w = this.#weights.get(name);
    if (!w) throw new RangeError(`Reference model is missing tensor ${name}`);
    return w;
  }
}

/** Index of the largest value (the first one on ties, as torch.argmax). */
export function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

function addInPlace(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) x[i] += y[i];
}
