/**
 * Choosing which sealed blocks to demote when the arena is full. The policy's order decides the
 * phase (all demotable blocks of its first phase before any of the next); within a phase, blocks
 * are taken a slab at a time, slabs that the demotion empties completely first, because a slab
 * holds one dtype and only an empty slab can host blocks of another (the new smaller blocks come
 * from the arena's reserve slab, which the emptied slab replaces). Never touched: open and
 * window blocks, blocks sealed or demoted by the step being planned (the GPU has not written
 * them yet), and blocks the prefix cache shares.
 * @module
 */
import { kvDtype } from "../kv/dtype.ts";
import type { DemotionStep } from "../kv/demotion_policy.ts";
import type { KvArena } from "../kv/arena.ts";
import type { SealOp } from "../runner/types.ts";
import type { Sequence } from "./sequence.ts";

/** Demotions so far of one (phase, destination dtype). */
export interface DemotionCount {
  phase: string;
  /** Destination dtype. */
  dtype: string;
  blocks: number;
  /** Arena bytes the demotions gave back, all layers. */
  bytesFreed: number;
}

/** Plans demotions and counts them. */
export class DemotionPlanner {
  readonly #policy: readonly DemotionStep[];
  readonly #arena: KvArena;
  readonly #counts = new Map<string, DemotionCount>();
  readonly #floorSeals = new Map<string, DemotionCount>();
  #pressure = false;

  /** A planner following `policy` on `arena`. */
  constructor(policy: readonly DemotionStep[], arena: KvArena) {
    this.#policy = policy;
    this.#arena = arena;
  }

  /** Whether the policy demotes anything. */
  get enabled(): boolean {
    return this.#policy.length > 0;
  }

  /**
   * Sets or clears memory pressure, the scheduler's call once per step: set when a sequence could
   * not grow or be admitted for lack of bytes. While set, blocks are sealed straight at their
   * phase's floor (sealDtype): demoting them later would cost a second encode and, as a slab
   * holds one dtype, a reserve slab per freed slab (docs/kv_cache.md).
   */
  setPressure(on: boolean): void {
    this.#pressure = on;
  }

  /** The dtype a block of `phase` is sealed in now: its floor under pressure when narrower. */
  sealDtype(phase: string, dtype: string): string {
    return this.#pressure ? this.floorDtype(phase, dtype) : dtype;
  }

  /** The dtype demotion brings a block of `phase` down to from `dtype` (f16 is never demoted). */
  floorDtype(phase: string, dtype: string): string {
    if (dtype === "f16") return dtype;
    const step = this.#policy.find((s) => s.phase === phase);
    if (!step || kvDtype(step.dtype).meanBits >= kvDtype(dtype).meanBits) return dtype;
    return step.dtype;
  }

  /** Counts by phase and destination dtype. */
  counts(): DemotionCount[] {
    return [...this.#counts.values()].map((c) => ({ ...c }));
  }

  /**
   * Blocks sealed straight at a floor under pressure, by phase and dtype; `bytesFreed` is what
   * sealing them at their phase's own dtype would have held more.
   */
  floorSealCounts(): DemotionCount[] {
    return [...this.#floorSeals.values()].map((c) => ({ ...c }));
  }

  /** Counts a block of `phase` sealed in `dtype` where its phase's dtype is `base`. */
  countSeal(phase: string, dtype: string, base: string): void {
    if (dtype !== base) this.#add(this.#floorSeals, phase, dtype, base);
  }

  /**
   * Demotes the candidate blocks of one slab, at most `limit`, of `running` sequences (none
   * whose offset is in `busy`, none `shared`), adding each new block's offset to `busy`.
   * Returns the ops; empty when no block can be demoted or no smaller block fits.
   */
  demote(
    running: readonly Sequence[],
    busy: Set<number>,
    limit: number,
    shared: (offset: number) => boolean = () => false,
  ): SealOp[] {
    for (const step of this.#policy) {
      if (limit <= 0) return [];
      const floorBits = kvDtype(step.dtype).meanBits;
      const bySlab = new Map<number, { seq: Sequence; index: number }[]>();
      for (const seq of running) {
        const blocks = seq.kv.blocks;
        for (let i = 0; i < seq.kv.numSealed; i++) {
          const b = blocks[i];
          // f16 blocks stay f16: the user asked for full precision there
          if (b.phase !== step.phase || b.dtype === "f16") continue;
          if (kvDtype(b.dtype).meanBits <= floorBits) continue;
          if (busy.has(b.offset) || shared(b.offset)) continue;
          const slab = this.#arena.slabIndex(b.offset);
          const list = bySlab.get(slab) ?? [];
          list.push({ seq, index: i });
          bySlab.set(slab, list);
        }
      }
      if (bySlab.size === 0) continue;
      const slabs = [...bySlab.entries()].sort(([sa, a], [sb, b]) => {
        const fullA = a.length === this.#arena.slabUsed(sa) ? 0 : 1;
        const fullB = b.length === this.#arena.slabUsed(sb) ? 0 : 1;
        return fullA - fullB || a.length - b.length;
      });
      // one slab's worth per call: the caller asks again if that was not enough
      const ops: SealOp[] = [];
      for (const { seq, index } of slabs[0][1].slice(0, limit)) {
        const before = seq.kv.blocks[index];
        const op = seq.kv.demote(index, step.dtype);
        if (op === null) break;
        busy.add(op.dst);
        ops.push(op);
        this.#count(before.phase, step.dtype, before.dtype);
      }
      return ops;
    }
    return [];
  }

  /**
   * Demotes up to `limit` of `seq`'s sealed think blocks above `dtype` (none in `busy`); `more`
   * says whether some are left (over the limit, or out of room).
   */
  demoteThink(
    seq: Sequence,
    dtype: string,
    busy: Set<number>,
    limit: number,
  ): { done: SealOp[]; more: boolean } {
    const bits = kvDtype(dtype).meanBits;
    const done: SealOp[] = [];
    for (let i = 0; i < seq.kv.numSealed; i++) {
      const b = seq.kv.blocks[i];
      if (b.phase !== "think" || kvDtype(b.dtype).meanBits <= bits || busy.has(b.offset)) continue;
      if (done.length >= limit) return { done, more: true };
      const op = seq.kv.demote(i, dtype);
      if (op === null) return { done, more: true };
      busy.add(op.dst);
      done.push(op);
      this.#count(b.phase, dtype, b.dtype);
    }
    return { done, more: false };
  }

  #count(phase: string, dtype: string, from: string): void {
    this.#add(this.#counts, phase, dtype, from);
  }

  #add(into: Map<string, DemotionCount>, phase: string, dtype: string, from: string): void {
    const key = `${phase}:${dtype}`;
    const c = into.get(key) ?? { phase, dtype, blocks: 0, bytesFreed: 0 };
    c.blocks++;
    c.bytesFreed += (this.#arena.blockBytes(from) - this.#arena.blockBytes(dtype)) *
      this.#arena.numLayers;
    into.set(key, c);
  }
}
