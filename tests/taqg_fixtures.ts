/**
 * The KV codec for the calibration tests: the CPU oracle of the seal kernel
 * (tests/reference/kv_codec.ts, bit-exact with kernels/kv_seal.wgsl) behind calibration's
 * `KvQuantizer`, and the registry's stored bits for the block layout.
 * @module
 */
import { kvDtype } from "../src/kv/dtype.ts";
import type { KvKind } from "../src/taqg/allocation.ts";
import { registryBitsPerElement } from "../src/taqg/codec.ts";
import type { KvCodec } from "../src/taqg/configs.ts";
import { decodeBlock, encodeBlock } from "./reference/kv_codec.ts";

const BLOCK_SIZE = 16;

/** Round trip of one (numTokens, headDim) block of one KV head through the oracle codec. */
export function oracleQuantize(
  block: Float32Array,
  numTokens: number,
  headDim: number,
  kind: KvKind,
  dtype: string,
): Float32Array {
  const layout = { numKvHeads: 1, blockSize: BLOCK_SIZE, headDim };
  const padded = new Float32Array(BLOCK_SIZE * headDim);
  padded.set(block);
  const other = new Float32Array(padded.length);
  const values = kind === "key" ? { k: padded, v: other } : { k: other, v: padded };
  const d = kvDtype(dtype);
  const decoded = decodeBlock(d, layout, encodeBlock(d, layout, values, numTokens));
  return (kind === "key" ? decoded.k : decoded.v).slice(0, numTokens * headDim);
}

/** The fixture codec for blocks of `numKvHeads` heads of `headDim`. */
export function fixtureCodec(numKvHeads: number, headDim: number): KvCodec {
  return {
    quantize: oracleQuantize,
    bitsPerElement: registryBitsPerElement({ numKvHeads, blockSize: BLOCK_SIZE, headDim }),
  };
}
