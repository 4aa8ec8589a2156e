/**
 * Distortion rows of `bench:kv`: each quantized dtype's attention KL (real queries) and
 * attention-output relative error on q/k/v captured from real models, in the space the engine
 * serves it in and in the other one (plain, or K, V and q rotated by the engine's randomized
 * Hadamard transform). Blocks are sealed by the codec oracle, whose codes the GPU seal matches
 * bit for bit (tests/kv_seal_test.ts), and read by the runtime's CPU decoder.
 * @module
 */
import { bitsPerElement, KV_DTYPES, type KvDtype } from "../src/kv/dtype.ts";
import type { KvLayout } from "../src/kv/layout.ts";
import { canRotate, rotatesByDefault, rotationSigns } from "../src/kv/rotation.ts";
import { attentionDistortion } from "../src/taqg/distortion.ts";
import { type KvBlock, type KvTrace, type QuantizedCache, splitBlocks } from "../src/taqg/trace.ts";
import { decodeBlock, encodeBlock } from "../tests/reference/kv_codec.ts";
import { rotateRows } from "../tests/reference/hadamard.ts";

/** The space K and V are quantized in. */
export type KvSpace = "plain" | "rotated";

/** One distortion row. */
export interface DistortionRow {
  kind: "distortion";
  /** Where q/k/v come from. */
  source: string;
  dtype: string;
  /** The space the blocks were quantized in. */
  space: KvSpace;
  /** Whether the engine keeps this model's cache in this space (src/kv/rotation.ts). */
  served: boolean;
  bits_per_element: number;
  /** Mean KL(p_f16 ‖ p_quant) of the attention weights over layers, heads and queries. */
  attention_kl: number;
  /** Mean ‖o_f16 − o_quant‖ / ‖o_f16‖. */
  output_rel_error: number;
  /** Sequences and sampled (query position, head, layer) triples behind the means. */
  sequences: number;
  samples: number;
}

/** Captured traces of one model. */
export interface DistortionSource {
  name: string;
  traces: KvTrace[];
}

/** The trace with every head vector of q, k and v rotated. */
export function rotateTrace(trace: KvTrace): KvTrace {
  const signs = rotationSigns(trace.headDim);
  const rot = (xs: Float32Array[]) => xs.map((x) => rotateRows(x, signs));
  return {
    ...trace,
    keys: rot(trace.keys),
    values: rot(trace.values),
    queries: rot(trace.queries),
  };
}

/** Each layer's K and V after sealing every block of `trace` into `dtype` and decoding it. */
export function sealTrace(
  trace: KvTrace,
  blocks: readonly KvBlock[],
  dtype: KvDtype,
  blockSize: number,
): QuantizedCache {
  const { numKvHeads: h, headDim: d } = trace;
  const layout: KvLayout = { numKvHeads: h, blockSize, headDim: d };
  const seal = (k: Float32Array, v: Float32Array) => {
    const outK = new Float32Array(k.length), outV = new Float32Array(v.length);
    for (const block of blocks) {
      const n = block.end - block.start;
      const values = {
        k: new Float32Array(h * blockSize * d),
        v: new Float32Array(h * blockSize * d),
      };
      for (let t = 0; t < n; t++) {
        for (let head = 0; head < h; head++) {
          const from = ((block.start + t) * h + head) * d, to = (head * blockSize + t) * d;
          values.k.set(k.subarray(from, from + d), to);
          values.v.set(v.subarray(from, from + d), to);
        }
      }
      const back = decodeBlock(dtype, layout, encodeBlock(dtype, layout, values, n));
      for (let t = 0; t < n; t++) {
        for (let head = 0; head < h; head++) {
          const to = ((block.start + t) * h + head) * d, from = (head * blockSize + t) * d;
          outK.set(back.k.subarray(from, from + d), to);
          outV.set(back.v.subarray(from, from + d), to);
        }
      }
    }
    return { k: outK, v: outV };
  };
  const sealed = trace.keys.map((k, l) => seal(k, trace.values[l]));
  return { keys: sealed.map((s) => s.k), values: sealed.map((s) => s.v) };
}

/** Distortion rows of every quantized dtype on `source`, in both spaces where it can rotate. */
export function distortionRows(source: DistortionSource, blockSize: number): DistortionRow[] {
  const rows: DistortionRow[] = [];
  const first = source.traces[0];
  const layout = { numKvHeads: first.numKvHeads, blockSize, headDim: first.headDim };
  const spaces: KvSpace[] = canRotate(first.headDim) ? ["plain", "rotated"] : ["plain"];
  const prepared = spaces.map((space) =>
    source.traces.map((t) => {
      const trace = space === "rotated" ? rotateTrace(t) : t;
      return { trace, blocks: splitBlocks(trace.phases, blockSize) };
    })
  );
  for (const dtype of KV_DTYPES.filter((d) => d.kind !== "f16")) {
    spaces.forEach((space, s) => {
      let kl = 0, err = 0, samples = 0;
      for (const { trace, blocks } of prepared[s]) {
        const m = attentionDistortion(trace, sealTrace(trace, blocks, dtype, blockSize), blocks);
        for (const layer of m.kl) for (const x of layer) kl += x;
        for (const layer of m.outputError) for (const x of layer) err += x;
        samples += m.kl.reduce((a, l) => a + l.length, 0);
      }
      rows.push({
        kind: "distortion",
        source: source.name,
        dtype: dtype.name,
        space,
        served: rotatesByDefault(first.headDim) === (space === "rotated"),
        bits_per_element: bitsPerElement(dtype, layout),
        attention_kl: kl / samples,
        output_rel_error: err / samples,
        sequences: source.traces.length,
        samples,
      });
    });
  }
  return rows;
}
