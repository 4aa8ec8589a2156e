/**
 * One sequence's block table: which blocks hold its tokens, in which phase and dtype. Tokens go
 * into the open f16 block. A block that stopped taking tokens (full, or closed at a phase change)
 * is sealed (quantized into a block of its phase's dtype) only once at least `recentTokens` newer
 * tokens stand behind it — KIVI's full-precision recent window — and never by the append that
 * wrote it, because the tokens of an append are only written by the step that follows it.
 * @module
 */
import type { KvArena } from "./arena.ts";
import { kvDtype } from "./dtype.ts";
import { PrefixCache } from "./prefix_cache.ts";
import { type BlockEntry, type Phase, type PhaseKvUsage, PHASES, type SealOp } from "./types.ts";

/** The dtype every open block is written in. */
export const OPEN_DTYPE = "f16";

/**
 * Default full-precision recent window, in tokens (`--kv-recent-tokens`): a closed block is sealed
 * once this many newer tokens stand behind it, so the newest 16–31 tokens are always f16. Chosen
 * on 300 reserved problems that are not in heldout.jsonl (bench/data/tiny_reasoner_choice.jsonl),
 * never on the problems that score it: with the served codecs, uniform int4 scores 93.7% at R = 16
 * and 93.0% at R = 32 against f16's 93.3%, so one block is enough; reports/accuracy/recent_window.md.
 */
export const DEFAULT_RECENT_TOKENS = 16;

/**
 * Default tokens per KV block (`--block-size`), vLLM's. A model's profile may set its own
 * (`block_size`): short sequences waste less on an open block and a window of small blocks.
 */
export const DEFAULT_BLOCK_SIZE = 16;

/** How a sequence lays out its blocks. */
export interface SequenceKvOptions {
  /** Tokens per block. */
  blockSize: number;
  /** Canonical dtype name of the sealed blocks of a phase. */
  dtypeFor: (phase: Phase) => string;
  /**
   * Newer tokens that must stand behind a closed block before it is sealed: the newest tokens
   * stay f16 (default 0: seal as soon as the block is closed).
   */
  recentTokens?: number;
  /** The prefix cache to share full prompt blocks through, and the prompt's token ids. */
  prefix?: { cache: PrefixCache; promptIds: readonly number[] };
  /** Called once per block sealed (committed), with its phase and the dtype it was sealed in. */
  onSeal?: (phase: Phase, dtype: string) => void;
}

/** A seal with the number of tokens the source block holds (the rest of it is stale memory). */
export interface KvSealOp extends SealOp {
  /** Tokens written in the source block; the seal quantizes only these. */
  tokens: number;
}

interface Plan {
  /** Blocks [numClosed, closeEnd) stop taking tokens now. */
  closeEnd: number;
  /** Blocks [numSealed, sealEnd) leave the recent window now: sealed unless their dtype is f16. */
  sealEnd: number;
  /** Tokens in the blocks before sealEnd. */
  sealedTokens: number;
  /** The last block when the first new token goes into it. */
  target: BlockEntry | null;
  /** Phases of the blocks to open, in order. */
  fresh: Phase[];
}

/** The KV blocks of one sequence, drawn from a shared arena. */
export class SequenceKv {
  readonly #arena: KvArena;
  readonly #blockSize: number;
  readonly #dtypeFor: (phase: Phase) => string;
  readonly #onSeal: (phase: Phase, dtype: string) => void;
  readonly #recentTokens: number;
  readonly #blocks: BlockEntry[] = [];
  /** Blocks before this index take no more tokens. */
  #numClosed = 0;
  /** Blocks before this index are final: sealed, or f16 by their phase's dtype. */
  #numSealed = 0;
  /** Tokens in the blocks before #numSealed. */
  #sealedTokens = 0;
  #numTokens = 0;
  readonly #prefix: { cache: PrefixCache; promptIds: readonly number[] } | null;
  /** Prefix-cache id of each leading full prompt block registered or adopted, in order. */
  #chain: number[] = [];
  /** Offsets this table holds through a prefix-cache reference (released, not freed). */
  readonly #shared = new Set<number>();

  /** An empty table drawing blocks from `arena`. */
  constructor(arena: KvArena, opts: SequenceKvOptions) {
    if (!Number.isInteger(opts.blockSize) || opts.blockSize <= 0) {
      throw new RangeError(`blockSize must be a positive integer, got ${opts.blockSize}`);
    }
    const recent = opts.recentTokens ?? 0;
    if (!Number.isInteger(recent) || recent < 0) {
      throw new RangeError(`recentTokens must be a non-negative integer, got ${recent}`);
    }
    this.#arena = arena;
    this.#blockSize = opts.blockSize;
    this.#dtypeFor = opts.dtypeFor;
    this.#onSeal = opts.onSeal ?? (() => {});
    this.#recentTokens = recent;
    this.#prefix = opts.prefix ?? null;
  }

  /**
   * On an empty table: takes the longest run of leading full prompt blocks the prefix cache
   * holds, by content and the prompt's dtype, and returns the tokens they cover. At least the
   * last prompt token is left to compute (its row samples); a quantized block is taken only
   * where a miss would have sealed it already (R tokens behind it at the prompt's end).
   */
  adoptPrefix(): number {
    if (this.#prefix === null || this.#blocks.length > 0) return 0;
    const { cache, promptIds } = this.#prefix;
    const b = this.#blockSize;
    const dtype = this.#dtypeFor("prompt");
    let max = Math.floor((promptIds.length - 1) / b);
    if (dtype !== OPEN_DTYPE) {
      max = Math.min(max, Math.floor((promptIds.length - this.#recentTokens) / b));
    }
    for (let j = 0; j < max; j++) {
      const key = PrefixCache.key(
        this.#chain[j - 1] ?? 0,
        dtype,
        promptIds.slice(j * b, j * b + b),
      );
      const hit = cache.adopt(key);
      if (hit === null) break;
      this.#chain.push(hit.id);
      this.#shared.add(hit.offset);
      this.#blocks.push({ offset: hit.offset, dtype, phase: "prompt", tokens: b });
    }
    const n = this.#blocks.length;
    this.#numClosed = this.#numSealed = n;
    this.#sealedTokens = this.#numTokens = n * b;
    return n * b;
  }

  /** Whether the block at `offset` is held through the prefix cache (never rewritten). */
  isShared(offset: number): boolean {
    return this.#shared.has(offset);
  }

  /** Newer tokens a closed block waits for before it is sealed. */
  get recentTokens(): number {
    return this.#recentTokens;
  }

  /** The live table (entries change in place as tokens are appended and blocks sealed). */
  get blocks(): readonly BlockEntry[] {
    return this.#blocks;
  }

  /** Tokens held. */
  get numTokens(): number {
    return this.#numTokens;
  }

  /** Blocks before this index are final and out of the recent window: only they may be demoted. */
  get numSealed(): number {
    return this.#numSealed;
  }

  /**
   * Re-seals the final block at `index` into the smaller `dtype` (a demotion), drawing the new
   * block from the arena's reserve if need be. Returns the op to run before the next step's
   * writes, or null, changing nothing, when no block of `dtype` fits. The entry keeps its phase.
   */
  demote(index: number, dtype: string): KvSealOp | null {
    if (!Number.isInteger(index) || index < 0 || index >= this.#numSealed) {
      throw new RangeError(`Block ${index} is open or in the recent window: it cannot be demoted`);
    }
    const src = this.#blocks[index];
    if (this.#shared.has(src.offset)) {
      throw new RangeError(
        `Block ${index} is shared through the prefix cache: it cannot be demoted`,
      );
    }
    if (kvDtype(dtype).meanBits >= kvDtype(src.dtype).meanBits) {
      throw new RangeError(`Cannot demote a ${src.dtype} block to ${dtype}`);
    }
    const dst = this.#arena.allocate(dtype, true);
    if (dst === null) return null;
    // the op runs before the next step's writes, so the source may host a new block at once
    this.#arena.free(src.offset);
    this.#blocks[index] = {
      offset: dst,
      dtype,
      phase: src.phase,
      tokens: src.tokens,
      demoted: true,
    };
    return { src: src.offset, dst, dtype, tokens: src.tokens, srcDtype: src.dtype };
  }

  /** Arena bytes (all layers) that append(phases) would allocate, counting no frees. */
  bytesToAppend(phases: readonly Phase[]): number {
    if (phases.length === 0) return 0;
    const plan = this.#plan(phases);
    let perLayer = plan.fresh.length * this.#arena.blockBytes(OPEN_DTYPE);
    for (let i = this.#numSealed; i < plan.sealEnd; i++) {
      const dtype = this.#dtypeFor(this.#blocks[i].phase);
      if (dtype !== OPEN_DTYPE) perLayer += this.#arena.blockBytes(dtype);
    }
    return perLayer * this.#arena.numLayers;
  }

  /**
   * Appends one token per phase. Returns the seals to run before this step's KV writes, or null,
   * changing nothing, when the arena lacks room.
   */
  append(phases: readonly Phase[]): KvSealOp[] | null {
    if (phases.length === 0) return [];
    const plan = this.#plan(phases);
    const undo: (() => void)[] = [];
    const rollback = (): null => {
      for (const step of undo.reverse()) step();
      return null;
    };
    const seals: KvSealOp[] = [];
    const sealed: BlockEntry[] = [];
    for (let i = this.#numSealed; i < plan.sealEnd; i++) {
      const src = this.#blocks[i];
      const dtype = this.#dtypeFor(src.phase);
      if (dtype === OPEN_DTYPE) continue;
      const dst = this.#arena.allocate(dtype);
      if (dst === null) return rollback();
      undo.push(() => this.#arena.free(dst));
      // the seal runs before this step's writes, so the source may host a new block at once
      this.#arena.free(src.offset);
      undo.push(() => this.#arena.allocateAt(OPEN_DTYPE, src.offset));
      seals.push({ src: src.offset, dst, dtype, tokens: src.tokens });
      sealed[i] = { offset: dst, dtype, phase: src.phase, tokens: src.tokens };
    }
    const opened: number[] = [];
    for (const _ of plan.fresh) {
      const offset = this.#arena.allocate(OPEN_DTYPE);
      if (offset === null) return rollback();
      undo.push(() => this.#arena.free(offset));
      opened.push(offset);
    }
    // commit
    sealed.forEach((entry, i) => {
      this.#blocks[i] = entry;
      this.#onSeal(entry.phase, entry.dtype);
    });
    this.#numClosed = plan.closeEnd;
    for (let i = this.#numSealed; i < plan.sealEnd; i++) this.#register(i);
    this.#numSealed = plan.sealEnd;
    this.#sealedTokens = plan.sealedTokens;
    let block = plan.target;
    let fresh = 0;
    for (const phase of phases) {
      if (!block || block.tokens === this.#blockSize || block.phase !== phase) {
        block = { offset: opened[fresh], dtype: OPEN_DTYPE, phase: plan.fresh[fresh], tokens: 0 };
        fresh++;
        this.#blocks.push(block);
      }
      block.tokens++;
    }
    this.#numTokens += phases.length;
    return seals;
  }

  /**
   * Drops tokens past `numTokens` and frees the blocks left empty. A sealed block is kept whole
   * or not at all, so the count kept may be lower (block-aligned); returns it.
   */
  truncate(numTokens: number): number {
    if (!Number.isInteger(numTokens) || numTokens < 0) {
      throw new RangeError(`Cannot truncate to ${numTokens} tokens`);
    }
    if (numTokens >= this.#numTokens) return this.#numTokens;
    let kept = 0;
    let keepBlocks = 0;
    for (const block of this.#blocks) {
      if (kept + block.tokens <= numTokens) {
        kept += block.tokens;
        keepBlocks++;
        continue;
      }
      const partial = numTokens - kept;
      if (partial > 0 && block.dtype === OPEN_DTYPE && !this.#shared.has(block.offset)) {
        block.tokens = partial;
        kept += partial;
        keepBlocks++;
        // an f16 block that was closed may take tokens again: its data was never quantized
        this.#numClosed = Math.min(this.#numClosed, keepBlocks - 1);
      }
      break;
    }
    // last first, so that a chain's later blocks are evicted before the blocks they extend
    for (const block of this.#blocks.splice(keepBlocks).reverse()) this.#release(block.offset);
    this.#chain = this.#chain.slice(0, keepBlocks);
    this.#numClosed = Math.min(this.#numClosed, keepBlocks);
    this.#numSealed = Math.min(this.#numSealed, this.#numClosed);
    this.#sealedTokens = this.#blocks.slice(0, this.#numSealed).reduce((n, b) => n + b.tokens, 0);
    this.#numTokens = kept;
    return kept;
  }

  /** Frees every block; calling it again does nothing. */
  free(): void {
    this.truncate(0);
  }

  /** Arena bytes (all layers) of the blocks this table holds, shared ones included. */
  bytesHeld(): number {
    let perLayer = 0;
    for (const block of this.#blocks) perLayer += this.#arena.blockBytes(block.dtype);
    return perLayer * this.#arena.numLayers;
  }

  /** Tokens, blocks and bytes (all layers) per phase; `dtypes` maps dtype to its block count. */
  usage(): Record<Phase, PhaseKvUsage> {
    const out = Object.fromEntries(
      PHASES.map((p) => [p, { tokens: 0, blocks: 0, bytes: 0, dtypes: {} }]),
    ) as Record<Phase, PhaseKvUsage>;
    for (const block of this.#blocks) {
      const u = out[block.phase];
      const bytes = this.#arena.blockBytes(block.dtype) * this.#arena.numLayers;
      u.tokens += block.tokens;
      u.blocks++;
      u.bytes += bytes;
      u.dtypes[block.dtype] = (u.dtypes[block.dtype] ?? 0) + 1;
    }
    return out;
  }

  /** Gives the block at `offset` back: to the prefix cache if held through it, else the arena. */
  #release(offset: number): void {
    if (this.#shared.delete(offset)) this.#prefix!.cache.release(offset);
    else this.#arena.free(offset);
  }

  /** Registers block `index`, just final, in the prefix cache if it continues the prompt chain. */
  #register(index: number): void {
    if (this.#prefix === null || index !== this.#chain.length) return;
    const block = this.#blocks[index];
    const b = this.#blockSize;
    const { cache, promptIds } = this.#prefix;
    if (block.phase !== "prompt" || block.tokens !== b || (index + 1) * b > promptIds.length) {
      return;
    }
    const tokens = promptIds.slice(index * b, index * b + b);
    const key = PrefixCache.key(this.#chain[index - 1] ?? 0, block.dtype, tokens);
    const { id, cached } = cache.insert(key, block.offset, block.dtype);
    this.#chain.push(id);
    if (cached) this.#shared.add(block.offset);
  }

  #plan(phases: readonly Phase[]): Plan {
    const len = this.#blocks.length;
    const last = this.#blocks[len - 1];
    const target = last && len - 1 >= this.#numClosed && last.tokens < this.#blockSize &&
        last.phase === phases[0]
      ? last
      : null;
    const fresh: Phase[] = [];
    let room = target ? this.#blockSize - target.tokens : 0;
    let phase = target?.phase;
    for (const p of phases) {
      if (room === 0 || p !== phase) {
        fresh.push(p);
        room = this.#blockSize;
        phase = p;
      }
      room--;
    }
    const closeEnd = target ? len - 1 : len;
    // a block leaves the window once the tokens after it, this append's included, reach R
    const total = this.#numTokens + phases.length;
    let sealEnd = this.#numSealed;
    let sealedTokens = this.#sealedTokens;
    while (sealEnd < closeEnd) {
      const end = sealedTokens + this.#blocks[sealEnd].tokens;
      if (total - end < this.#recentTokens) break;
      sealedTokens = end;
      sealEnd++;
    }
    return { closeEnd, sealEnd, sealedTokens, target, fresh };
  }
}
