/**
 * The seam through which the KV module encodes seals (quantizing full or phase-ending f16 blocks)
 * into the runner's compute pass, before the layers of the step run.
 * @module
 */
import type { SealOp } from "./types.ts";

/** Encodes seal kernels; provided by the KV module and attached to the runner. */
export interface KvSealer {
  /** Encodes `seals` for every layer (`layerPools[l]` is layer l's KV pool) into `pass`. */
  encode(
    pass: GPUComputePassEncoder,
    layerPools: readonly GPUBuffer[],
    seals: readonly SealOp[],
  ): void;
}
