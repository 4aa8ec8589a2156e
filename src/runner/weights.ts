/**
 * Uploading a checkpoint to the GPU: matrices as f16 (row-split past the binding limit), q/k/v
 * and gate/up fused into one matrix each so a layer needs fewer dispatches, and the small
 * vectors (norms, biases) as f32 holding the f16-rounded values, so every weight the GPU uses
 * carries exactly the f16 rounding the reference model's f16Weights option applies. With an
 * int8/int4 weight dtype every matrix but the embedding table is then quantized on the GPU (a
 * tied lm_head gets its own quantized copy; lookups read the f16 table).
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createStorage } from "../gpu/buffers.ts";
import { destroyMatrix, type GpuMatrix, matrixBytes, uploadF16Matrix } from "../gpu/row_split.ts";
import type { HostTensor, LoadedCheckpoint } from "../model/spec.ts";
import { f16BitsToF32, toF16Bits } from "../model/tensor_convert.ts";
import { WEIGHT_GROUP_SIZE, weightBits, type WeightsDtype } from "../model/weights_dtype.ts";
import { quantizeMatrix } from "./ops/quantize_weights.ts";

/** One decoder layer's weights on the GPU. */
export interface LayerWeights {
  inputNorm: GPUBuffer;
  /** [q; k; v] rows: (numHeads + 2 numKvHeads) headDim × hidden. */
  qkv: GpuMatrix;
  qkvBias: GPUBuffer | null;
  qNorm: GPUBuffer | null;
  kNorm: GPUBuffer | null;
  o: GpuMatrix;
  postNorm: GPUBuffer;
  /** [gate; up] rows: 2 intermediate × hidden. */
  gateUp: GpuMatrix;
  down: GpuMatrix;
}

/** The model's weights on the GPU. */
export interface ModelWeights {
  embed: GpuMatrix;
  /** The embedding itself when the checkpoint ties them. */
  lmHead: GpuMatrix;
  finalNorm: GPUBuffer;
  layers: LayerWeights[];
}

/** Reports upload progress: `done` of `total` tensors. */
export type ProgressFn = (done: number, total: number) => void;

/** How to store the weights. */
export interface WeightsOptions {
  /** Matrix dtype (default f16). */
  dtype?: WeightsDtype;
  /** Inputs per scale of a quantized dtype (default WEIGHT_GROUP_SIZE). */
  groupSize?: number;
  onProgress?: ProgressFn;
}

/** Uploads every weight of `ckpt`; throws RangeError naming a missing or mis-shaped tensor. */
export async function uploadWeights(
  gpu: Gpu,
  ckpt: LoadedCheckpoint,
  opts: WeightsOptions = {},
): Promise<ModelWeights> {
  const { onProgress } = opts;
  const bits = weightBits(opts.dtype ?? "f16");
  const group = opts.groupSize ?? WEIGHT_GROUP_SIZE;
  const s = ckpt.spec;
  const total = s.numLayers + 2;
  let done = 0;
  const tick = () => onProgress?.(++done, total);
  const get = (name: string, shape: readonly number[]): HostTensor => {
    const t = ckpt.tensors.get(name);
    if (!t) throw new RangeError(`Checkpoint ${ckpt.dir} is missing tensor ${name}`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new RangeError(`Tensor ${name} has shape [${t.shape}], expected [${shape}]`);
    }
    return t;
  };
  const f16Matrix = (label: string, tensors: HostTensor[], cols: number): GpuMatrix => {
    const values = concat(tensors.map(toF16Bits));
    const rows = values.length / cols;
    return uploadF16Matrix(gpu.device, label, values, rows, cols, gpu.maxBindingBytes);
  };
  const matrix = (label: string, tensors: HostTensor[], cols: number): Promise<GpuMatrix> => {
    const m = f16Matrix(label, tensors, cols);
    return bits === 16 ? Promise.resolve(m) : quantizeMatrix(gpu, m, bits, group);
  };
  const vector = (names: string[], len: number[]): GPUBuffer =>
    createStorage(
      gpu.device,
      names[0],
      f16BitsToF32(concat(names.map((n, i) => toF16Bits(get(n, [len[i]]))))),
    );

  const h = s.hiddenSize;
  const qDim = s.numHeads * s.headDim;
  const kvDim = s.numKvHeads * s.headDim;
  const embedTensor = get("model.embed_tokens.weight", [s.vocabSize, h]);
  const embed = f16Matrix("embed", [embedTensor], h);
  tick();
  const layers: LayerWeights[] = [];
  for (let l = 0; l < s.numLayers; l++) {
    const p = `model.layers.${l}`;
    const a = `${p}.self_attn`;
    layers.push({
      inputNorm: vector([`${p}.input_layernorm.weight`], [h]),
      qkv: await matrix(`${a}.qkv`, [
        get(`${a}.q_proj.weight`, [qDim, h]),
        get(`${a}.k_proj.weight`, [kvDim, h]),
        get(`${a}.v_proj.weight`, [kvDim, h]),
      ], h),
      qkvBias: s.qkvBias
        ? vector([`${a}.q_proj.bias`, `${a}.k_proj.bias`, `${a}.v_proj.bias`], [qDim, kvDim, kvDim])
        : null,
      qNorm: s.qkNorm ? vector([`${a}.q_norm.weight`], [s.headDim]) : null,
      kNorm: s.qkNorm ? vector([`${a}.k_norm.weight`], [s.headDim]) : null,
      o: await matrix(`${a}.o_proj`, [get(`${a}.o_proj.weight`, [h, qDim])], qDim),
      postNorm: vector([`${p}.post_attention_layernorm.weight`], [h]),
      gateUp: await matrix(`${p}.mlp.gate_up`, [
        get(`${p}.mlp.gate_proj.weight`, [s.intermediateSize, h]),
        get(`${p}.mlp.up_proj.weight`, [s.intermediateSize, h]),
      ], h),
      down: await matrix(`${p}.mlp.down_proj`, [
        get(`${p}.mlp.down_proj.weight`, [h, s.intermediateSize]),
      ], s.intermediateSize),
    });
    tick();
  }
  const lmHead = s.tieWordEmbeddings
    ? (bits === 16 ? embed : await matrix("lm_head", [embedTensor], h))
    : await matrix("lm_head", [get("lm_head.weight", [s.vocabSize, h])], h);
  const finalNorm = vector(["model.norm.weight"], [h]);
  tick();
  return { embed, lmHead, finalNorm, layers };
}

/** Bytes `w` holds on the GPU (a tied lm_head counted once). */
export function weightsBytes(w: ModelWeights): number {
  const matrices = new Set([
    w.embed,
    w.lmHead,
    ...w.layers.flatMap((l) => [l.qkv, l.o, l.gateUp, l.down]),
  ]);
  let n = w.finalNorm.size;
  for (const m of matrices) n += matrixBytes(m);
  for (const l of w.layers) {
    for (const b of [l.inputNorm, l.qkvBias, l.qNorm, l.kNorm, l.postNorm]) n += b?.size ?? 0;
  }
  return n;
}

/** Destroys every buffer of `w`. */
export function destroyWeights(w: ModelWeights): void {
  // A Set: a tied lm_head is the embedding itself.
  const matrices = new Set([
    w.embed,
    w.lmHead,
    ...w.layers.flatMap((l) => [l.qkv, l.o, l.gateUp, l.down]),
  ]);
  for (const m of matrices) destroyMatrix(m);
  for (const l of w.layers) {
    for (const b of [l.inputNorm, l.qkvBias, l.qNorm, l.kNorm, l.postNorm]) b?.destroy();
  }
  w.finalNorm.destroy();
}

function concat(parts: Uint16Array[]): Uint16Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
