/**
 * A KV arena whose frees wait for the GPU. A block freed while a submitted step may still write
 * it (a cancelled, finished, preempted or rewound sequence whose step is in flight) is held
 * until every step submitted before the free has resolved; only then can another sequence get
 * it. Blocks allocated since the last submission were never seen by the GPU and go back at once.
 * @module
 */
import { KvArena, KvArenaError, type KvArenaOptions } from "../kv/arena.ts";

interface HeldBlock {
  offset: number;
  /** The last step submitted when the block was freed. */
  fence: number;
}

/** KvArena that delays frees until the steps that may use the block have resolved. */
export class FencedKvArena extends KvArena {
  #lastSubmitted = 0;
  #lastResolved = 0;
  #held: HeldBlock[] = [];
  #heldBytesPerLayer = 0;
  /** Blocks handed out since the last submission: no step can reference them yet. */
  #unsubmitted = new Set<number>();
  /** Dtype of every block this arena handed out and has not freed. */
  #dtypeOf = new Map<number, string>();

  /** Same options as KvArena. */
  constructor(opts: KvArenaOptions) {
    super(opts);
  }

  /** Records that step `stepId` (increasing from 1) was submitted. */
  markSubmitted(stepId: number): void {
    this.#lastSubmitted = stepId;
    this.#unsubmitted.clear();
  }

  /** Records that every step up to `stepId` resolved, releasing the blocks they held up. */
  markResolved(stepId: number): void {
    this.#lastResolved = stepId;
    const still: HeldBlock[] = [];
    for (const block of this.#held) {
      if (block.fence > stepId) {
        still.push(block);
        continue;
      }
      this.#heldBytesPerLayer -= this.#dtypeBytes(block.offset);
      this.#release(block.offset);
    }
    this.#held = still;
  }

  /** Bytes (all layers) freed but waiting for in-flight steps. */
  bytesHeld(): number {
    return this.#heldBytesPerLayer * this.numLayers;
  }

  /** Takes a block; see KvArena.allocate. */
  override allocate(dtype: string, useReserve = false): number | null {
    const offset = super.allocate(dtype, useReserve);
    if (offset !== null) {
      this.#unsubmitted.add(offset);
      this.#dtypeOf.set(offset, dtype);
    }
    return offset;
  }

  /** Takes back a block freed a moment ago (a block table undoing a failed append). */
  override allocateAt(dtype: string, offset: number): void {
    const at = this.#held.findIndex((b) => b.offset === offset);
    if (at < 0) {
      super.allocateAt(dtype, offset);
      this.#dtypeOf.set(offset, dtype);
      return;
    }
    this.#held.splice(at, 1);
    this.#heldBytesPerLayer -= this.blockBytes(dtype);
  }

  /** Frees now when no submitted step can touch the block, else once they have resolved. */
  override free(offset: number): void {
    if (this.#held.some((b) => b.offset === offset)) {
      throw new KvArenaError(`The KV block at offset ${offset} is already freed`);
    }
    const seenByGpu = !this.#unsubmitted.delete(offset) && this.#dtypeOf.has(offset);
    if (!seenByGpu || this.#lastResolved >= this.#lastSubmitted) {
      this.#release(offset);
      return;
    }
    this.#held.push({ offset, fence: this.#lastSubmitted });
    this.#heldBytesPerLayer += this.#dtypeBytes(offset);
  }

  #release(offset: number): void {
    super.free(offset);
    this.#dtypeOf.delete(offset);
  }

  #dtypeBytes(offset: number): number {
    return this.blockBytes(this.#dtypeOf.get(offset)!);
  }
}
