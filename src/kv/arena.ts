/**
 * The KV byte budget as a slab allocator. Each layer's pool is carved into equal slabs (the last
 * one may be shorter); a slab holds blocks of one dtype only, so blocks of different sizes never
 * fragment each other, and a slab whose last block is freed goes back to the common pool for any
 * dtype. Every layer has the same layout, so one allocation is one offset in every layer.
 * @module
 */

/** How to size an arena. */
export interface KvArenaOptions {
  /** Bytes for the KV cache, all layers together. */
  budgetBytes: number;
  /** Layers, each with its own pool of poolBytes. */
  numLayers: number;
  /** Bytes of one block of `dtype` in one layer's pool. */
  blockBytes: (dtype: string) => number;
  /** Bytes of one slab in one layer's pool (default: a sixteenth of the pool, at most 1 MiB). */
  slabBytes?: number;
  /**
   * Empty slabs kept back for demotions (default 0): an ordinary allocation never carves the
   * last `reserveSlabs` empty slabs, so a demotion always finds room for its smaller block.
   */
  reserveSlabs?: number;
}

/** An offset the arena did not hand out, or has already taken back. */
export class KvArenaError extends Error {
  /** Creates the error with its message. */
  constructor(message: string) {
    super(message);
    this.name = "KvArenaError";
  }
}

const ALIGN = 16;
const DEFAULT_SLAB_BYTES = 1 << 20;

interface Slab {
  readonly offset: number;
  readonly bytes: number;
  /** The dtype of its blocks; null while empty. */
  dtype: string | null;
  blockBytes: number;
  /** Free block indices (a stack). */
  free: number[];
  used: number;
}

/** Per-layer pools of blocks of mixed dtypes under one byte budget. */
export class KvArena {
  /** Bytes the arena manages, all layers: numLayers × poolBytes (at most the budget asked). */
  readonly budgetBytes: number;
  /** Bytes of each layer's pool buffer. */
  readonly poolBytes: number;
  /** Layers sharing the block offsets. */
  readonly numLayers: number;
  /** Bytes of one slab in one layer. */
  readonly slabBytes: number;
  /** Empty slabs only a demotion may carve. */
  readonly reserveSlabs: number;
  #reserveOpen = false;
  readonly #blockBytes: (dtype: string) => number;
  readonly #slabs: Slab[] = [];
  /** Offset → dtype of every live block. */
  readonly #live = new Map<number, string>();
  readonly #usedByDtype = new Map<string, number>();
  #usedPerLayer = 0;

  /** Carves the budget into per-layer pools and slabs. */
  constructor(opts: KvArenaOptions) {
    if (!Number.isInteger(opts.numLayers) || opts.numLayers <= 0) {
      throw new RangeError(`numLayers must be a positive integer, got ${opts.numLayers}`);
    }
    this.numLayers = opts.numLayers;
    this.poolBytes = alignDown(Math.floor(opts.budgetBytes / opts.numLayers));
    if (!(this.poolBytes > 0)) {
      throw new RangeError(`A KV budget of ${opts.budgetBytes} bytes leaves no pool per layer`);
    }
    this.budgetBytes = this.poolBytes * this.numLayers;
    // A pool of one or two slabs could never hold f16 open blocks and sealed blocks together,
    // so by default a pool gets at least 16 slabs (each still big enough for an f16 block).
    const fallback = Math.max(
      opts.blockBytes("f16"),
      Math.min(DEFAULT_SLAB_BYTES, Math.floor(this.poolBytes / 16)),
    );
    this.slabBytes = alignDown(Math.min(opts.slabBytes ?? fallback, this.poolBytes));
    if (!(this.slabBytes > 0)) throw new RangeError(`slabBytes must be at least ${ALIGN}`);
    this.#blockBytes = opts.blockBytes;
    this.reserveSlabs = opts.reserveSlabs ?? 0;
    if (!Number.isInteger(this.reserveSlabs) || this.reserveSlabs < 0) {
      throw new RangeError(`reserveSlabs must be a non-negative integer, got ${opts.reserveSlabs}`);
    }
    for (let offset = 0; offset < this.poolBytes; offset += this.slabBytes) {
      const bytes = Math.min(this.slabBytes, this.poolBytes - offset);
      this.#slabs.push({ offset, bytes, dtype: null, blockBytes: 0, free: [], used: 0 });
    }
  }

  /** Bytes of one block of `dtype` in one layer (16-byte aligned). */
  blockBytes(dtype: string): number {
    const bytes = this.#blockBytes(dtype);
    if (!(bytes > 0)) throw new RangeError(`Block of dtype ${dtype} has ${bytes} bytes`);
    return Math.ceil(bytes / ALIGN) * ALIGN;
  }

  /** Blocks of `dtype` the empty arena holds: whole blocks in each slab of one layer's pool. */
  capacityBlocks(dtype: string): number {
    const bb = this.blockBytes(dtype);
    return this.#slabs.reduce((n, slab) => n + Math.floor(slab.bytes / bb), 0);
  }

  /** Whether `count` more blocks of `dtype` fit now (outside the reserve). */
  canAllocate(dtype: string, count = 1): boolean {
    const bb = this.blockBytes(dtype);
    let room = 0;
    let empties = this.emptySlabs() - (this.#reserveOpen ? 0 : this.reserveSlabs);
    for (const slab of this.#slabs) {
      if (slab.dtype === dtype) room += slab.free.length;
      else if (slab.dtype === null && empties-- > 0) room += Math.floor(slab.bytes / bb);
      if (room >= count) return true;
    }
    return room >= count;
  }

  /**
   * Runs `fn` with the reserve open to every allocation: for a sequence that would otherwise
   * never fit (alone in the arena), the reserve is better spent than kept.
   */
  withoutReserve<T>(fn: () => T): T {
    this.#reserveOpen = true;
    try {
      return fn();
    } finally {
      this.#reserveOpen = false;
    }
  }

  /** Slabs holding no block. */
  emptySlabs(): number {
    return this.#slabs.reduce((n, s) => n + (s.dtype === null ? 1 : 0), 0);
  }

  /** Index of the slab holding `offset` (blocks of one slab empty it together). */
  slabIndex(offset: number): number {
    return Math.floor(offset / this.slabBytes);
  }

  /** Live blocks in the slab at `index`. */
  slabUsed(index: number): number {
    return this.#slabs[index]?.used ?? 0;
  }

  /**
   * Takes a block of `dtype`; its per-layer byte offset, or null when none fits. Only a
   * demotion (`useReserve`) may carve one of the reserved empty slabs.
   */
  allocate(dtype: string, useReserve = false): number | null {
    const bb = this.blockBytes(dtype);
    // the fullest slab of this dtype first, so that lightly used slabs drain and return
    let best: Slab | null = null;
    for (const slab of this.#slabs) {
      if (slab.dtype === dtype && slab.free.length > 0) {
        if (!best || slab.free.length < best.free.length) best = slab;
      }
    }
    const open = useReserve || this.#reserveOpen;
    if (!best && (open || this.emptySlabs() > this.reserveSlabs)) {
      best = this.#slabs.find((s) => s.dtype === null && s.bytes >= bb) ?? null;
    }
    if (!best) return null;
    if (best.dtype === null) this.#carve(best, dtype, bb);
    return this.#take(best, best.free.pop()!);
  }

  /**
   * Takes the free block of `dtype` at `offset` (a block table undoing its own frees uses it).
   * Throws KvArenaError when that block is not free for `dtype`.
   */
  allocateAt(dtype: string, offset: number): void {
    const bb = this.blockBytes(dtype);
    const slab = this.#slabAt(offset);
    const rel = slab ? offset - slab.offset : -1;
    const fits = slab !== undefined && rel % bb === 0 && rel + bb <= slab.bytes;
    if (fits && slab.dtype === null) this.#carve(slab, dtype, bb);
    const at = fits && slab.dtype === dtype ? slab.free.indexOf(rel / bb) : -1;
    if (at < 0) throw new KvArenaError(`The ${dtype} block at offset ${offset} is not free`);
    slab!.free.splice(at, 1);
    this.#take(slab!, rel / bb);
  }

  /** Gives back the block at `offset`; throws KvArenaError on an unknown offset or a double free. */
  free(offset: number): void {
    const dtype = this.#live.get(offset);
    if (dtype === undefined) {
      throw new KvArenaError(`No live KV block at offset ${offset} (unknown or already freed)`);
    }
    const slab = this.#slabAt(offset)!;
    this.#live.delete(offset);
    slab.free.push((offset - slab.offset) / slab.blockBytes);
    slab.used--;
    this.#usedPerLayer -= slab.blockBytes;
    this.#usedByDtype.set(dtype, this.#usedByDtype.get(dtype)! - slab.blockBytes);
    if (slab.used === 0) {
      slab.dtype = null;
      slab.free = [];
    }
  }

  /** Bytes not held by blocks, all layers (budgetBytes when nothing is allocated). */
  bytesFree(): number {
    return this.budgetBytes - this.bytesUsed();
  }

  /** Bytes held by blocks, all layers. */
  bytesUsed(): number {
    return this.#usedPerLayer * this.numLayers;
  }

  /** Bytes held by blocks of each dtype, all layers (dtypes with none are left out). */
  bytesUsedByDtype(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [dtype, perLayer] of this.#usedByDtype) {
      if (perLayer > 0) out[dtype] = perLayer * this.numLayers;
    }
    return out;
  }

  /** Slabs holding blocks, by dtype (for stats and tests). */
  slabsByDtype(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const slab of this.#slabs) {
      if (slab.dtype !== null) out[slab.dtype] = (out[slab.dtype] ?? 0) + 1;
    }
    return out;
  }

  #carve(slab: Slab, dtype: string, bb: number): void {
    slab.dtype = dtype;
    slab.blockBytes = bb;
    const count = Math.floor(slab.bytes / bb);
    // reversed so that pop() hands out the lowest offsets first
    slab.free = Array.from({ length: count }, (_, i) => count - 1 - i);
  }

  #take(slab: Slab, index: number): number {
    const offset = slab.offset + index * slab.blockBytes;
    slab.used++;
    this.#usedPerLayer += slab.blockBytes;
    this.#usedByDtype.set(slab.dtype!, (this.#usedByDtype.get(slab.dtype!) ?? 0) + slab.blockBytes);
    this.#live.set(offset, slab.dtype!);
    return offset;
  }

  #slabAt(offset: number): Slab | undefined {
    return Number.isInteger(offset) && offset >= 0
      ? this.#slabs[Math.floor(offset / this.slabBytes)]
      : undefined;
  }
}

function alignDown(bytes: number): number {
  return Math.floor(bytes / ALIGN) * ALIGN;
}
