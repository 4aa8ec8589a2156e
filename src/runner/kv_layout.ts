/**
 * KV block geometry the runner needs: dtype ids as the kernels see them, and block sizes in
 * bytes. Only f16 is known here; quantized dtypes come from the KV registry (src/kv/dtype.ts),
 * which the lead wires in through `KvDtypeTable`.
 * @module
 */

/** KV shapes of one layer's pool. */
export interface KvGeometry {
  numKvHeads: number;
  blockSize: number;
  headDim: number;
}

/** A dtype as the runner needs it: the kernel tag id and bytes per block. */
export interface KvDtypeInfo {
  id: number;
  blockBytes(g: KvGeometry): number;
}

/** Looks up a dtype by registry name or alias; undefined when unknown. */
export type KvDtypeTable = (name: string) => KvDtypeInfo | undefined;

/** Kernel tag of the f16 (open block) dtype. */
export const F16_DTYPE_ID = 0;

/** Bytes of one f16 block in one layer: K and V, two bytes per element. */
export function f16BlockBytes(g: KvGeometry): number {
  return 2 * g.numKvHeads * g.blockSize * g.headDim * 2;
}

/** The table that knows only f16 (used until the KV registry is wired in). */
export const F16_ONLY: KvDtypeTable = (name) =>
  name === "f16" ? { id: F16_DTYPE_ID, blockBytes: f16BlockBytes } : undefined;

/** The dtype info for `name`, or a RangeError naming the known dtype. */
export function requireDtype(table: KvDtypeTable, name: string): KvDtypeInfo {
  const info = table(name);
  if (!info) throw new RangeError(`KV dtype ${name} is not registered with the runner`);
  return info;
}
