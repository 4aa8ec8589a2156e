/**
 * The served KV codec as calibration's `KvQuantizer`: a table of the round trips the GPU seal
 * and the kv_decode read-back produced for every block of every captured trace. Calibration's
 * quantizer is synchronous and sees only a block's values, so the table is keyed by those
 * values (the codec is a pure function of them, its kind and its dtype); a block the GPU never
 * sealed is an error, never a silent fallback to another quantizer.
 * @module
 */
import type { KvLayout } from "../kv/layout.ts";
import type { KvKind } from "./allocation.ts";
import { registryBitsPerElement } from "./codec.ts";
import type { CapturedSequence } from "./capture.ts";
import type { KvCodec } from "./configs.ts";
import { REFERENCE_DTYPE } from "./quantize_cache.ts";

/** Raised when calibration asks for a round trip of a block the GPU did not seal. */
export class UnsealedBlockError extends Error {
  /** Names the dtype, kind and size of the block. */
  constructor(dtype: string, kind: KvKind, numTokens: number) {
    super(`No GPU seal of a ${numTokens}-token ${kind} block to ${dtype} was captured`);
    this.name = "UnsealedBlockError";
  }
}

interface Entry {
  input: Float32Array;
  output: Float32Array;
}

/** Round trips of captured blocks, one (numTokens, headDim) block of one KV head each. */
export class SealedBlockTable {
  readonly #entries = new Map<string, Entry[]>();

  /** Records every block, head and kind of `captured` for each dtype it was sealed to. */
  add(captured: CapturedSequence): void {
    const { trace, blocks, sealed } = captured;
    for (const [dtype, cache] of sealed) {
      for (let layer = 0; layer < trace.numLayers; layer++) {
        for (const block of blocks) {
          for (let head = 0; head < trace.numKvHeads; head++) {
            const n = block.end - block.start;
            const pick = (a: Float32Array) =>
              headBlock(a, block.start, n, head, trace.numKvHeads, trace.headDim);
            this.#put(dtype, "key", n, pick(trace.keys[layer]), pick(cache.keys[layer]));
            this.#put(dtype, "value", n, pick(trace.values[layer]), pick(cache.values[layer]));
          }
        }
      }
    }
  }

  /** The GPU's round trip of `block` (calibration's `KvQuantizer`). */
  quantize = (
    block: Float32Array,
    numTokens: number,
    _headDim: number,
    kind: KvKind,
    dtype: string,
  ): Float32Array => {
    const found = this.#entries.get(keyOf(dtype, kind, numTokens, block))
      ?.find((e) => sameValues(e.input, block));
    if (found === undefined) throw new UnsealedBlockError(dtype, kind, numTokens);
    return found.output.slice();
  };

  #put(dtype: string, kind: KvKind, n: number, input: Float32Array, output: Float32Array): void {
    const key = keyOf(dtype, kind, n, input);
    const list = this.#entries.get(key) ?? [];
    // equal inputs give equal outputs (the codec is deterministic): keep one
    if (!list.some((e) => sameValues(e.input, input))) list.push({ input, output });
    this.#entries.set(key, list);
  }
}

/** Calibration's codec: the sealed-block table and the registry's stored bits for `layout`. */
export function servedCodec(table: SealedBlockTable, layout: KvLayout): KvCodec {
  return {
    quantize: (block, numTokens, headDim, kind, dtype) =>
      dtype === REFERENCE_DTYPE ? block : table.quantize(block, numTokens, headDim, kind, dtype),
    bitsPerElement: registryBitsPerElement(layout),
  };
}

/** Tokens [start, start + n) of one head of a (tokens, heads, headDim) array, as (n, headDim). */
export function headBlock(
  data: Float32Array,
  start: number,
  n: number,
  head: number,
  numHeads: number,
  headDim: number,
): Float32Array {
  const out = new Float32Array(n * headDim);
  for (let t = 0; t < n; t++) {
    const at = ((start + t) * numHeads + head) * headDim;
    out.set(data.subarray(at, at + headDim), t * headDim);
  }
  return out;
}

/** FNV-1a over the values' bits, with the dtype, kind and length: a bucket, not an identity. */
function keyOf(dtype: string, kind: KvKind, n: number, values: Float32Array): string {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let hash = 0x811c9dc5;
  for (const w of bits) hash = Math.imul(hash ^ w, 0x01000193);
  return `${dtype}/${kind}/${n}/${(hash >>> 0).toString(16)}`;
}

function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((w, i) => w === y[i]);
}
