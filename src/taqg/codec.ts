/**
 * Calibration's view of the KV dtype registry: stored bits per element with every scale byte,
 * for the block layout the server runs.
 * @module
 */
import { bitsPerElement } from "../kv/dtype.ts";
import type { KvLayout } from "../kv/layout.ts";
import type { BitsPerElement } from "./allocation.ts";

/**
 * Bits per element from the registry's block sizes. A block stores K and V in one dtype, so
 * this is their mean; keys and values in different dtypes are counted at that mean each.
 */
export function registryBitsPerElement(layout: KvLayout): BitsPerElement {
  return (dtype) => bitsPerElement(dtype, layout);
}
