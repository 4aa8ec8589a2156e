/**
 * The KV budget when the user gives none. WebGPU reports no device memory, so the default
 * follows the weights the device was chosen to hold: half the weights' bytes on the GPU, at
 * least DEFAULT_MIN_KV_BYTES (a tiny model still serves long sequences), and at most what the
 * adapter's limits allow (one storage binding per layer's pool) and MAX_DEFAULT_KV_BYTES.
 * A user's --kv-cache-memory always wins.
 * @module
 */

/** The floor of the default KV budget (256 MiB, the budget before weights counted). */
export const DEFAULT_MIN_KV_BYTES: number = 256 * 2 ** 20;

/** The ceiling of the default KV budget (8 GiB). */
export const MAX_DEFAULT_KV_BYTES: number = 8 * 2 ** 30;

/** What the default KV budget depends on. */
export interface KvBudgetInputs {
  /** Bytes the weights take on the GPU (after quantization). */
  weightBytes: number;
  numLayers: number;
  /** The adapter's maxStorageBufferBindingSize (each layer's pool is one binding). */
  maxBindingBytes: number;
}

/** The default KV budget in bytes, all layers. */
export function defaultKvBudget(i: KvBudgetInputs): number {
  const byWeights = Math.max(DEFAULT_MIN_KV_BYTES, Math.floor(i.weightBytes / 2));
  return Math.min(byWeights, i.numLayers * i.maxBindingBytes, MAX_DEFAULT_KV_BYTES);
}
