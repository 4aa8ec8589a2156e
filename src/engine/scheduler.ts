/**
 * The waiting and running queues, and the choice of each step's rows: decode tokens and prompt
 * chunks share a token budget (maxNumBatchedTokens) and the KV byte budget. When a running
 * sequence cannot grow, the youngest running sequence is preempted by recompute: its blocks are
 * freed and it waits at the front of the queue to re-prefill its prompt and known output.
 * @module
 */
import type { SealOp } from "../runner/types.ts";
import type { PrefixCache } from "../kv/prefix_cache.ts";
import type { DemotionPlanner } from "./demotion.ts";
import { QueueFullError } from "./errors.ts";
import type { FencedKvArena } from "./fenced_arena.ts";
import type { Sequence } from "./sequence.ts";
import type { FinishReason } from "./types.ts";

/** Unreferenced cached blocks freed per eviction round (the caller asks again if short). */
const EVICT_PER_CALL = 8;

/** Limits of one scheduler. */
export interface SchedulerConfig {
  /** Sequences running at once (also the number of GPU slots). */
  maxNumSeqs: number;
  /** Rows in one step. */
  maxNumBatchedTokens: number;
  /**
   * Sequences allowed to wait for a free slot (0: none; a request is taken only when it can
   * start at once); more are refused with QueueFullError.
   */
  maxWaiting: number;
  /** Demotions one step may carry (the runner's scratch blocks); 0 turns demotion off. */
  maxDemotionsPerStep?: number;
  /**
   * Share (0–1) of every running sequence's growth to its longest (max_tokens, at its demotion
   * floors) that admission keeps free (`--admission-headroom`). 0, the default, admits while the
   * first chunk fits, as vLLM does, and preempts when the arena runs out; 1 reserves each
   * request's max_tokens, as TGI does, so sequences that fit are never preempted.
   */
  admissionHeadroom?: number;
}

/** Consecutive rows of one sequence in a step. */
export interface ScheduledChunk {
  seq: Sequence;
  /** First position the chunk writes. */
  start: number;
  numTokens: number;
  /** The chunk reaches the sequence's last token, so its last row samples the next one. */
  sample: boolean;
  /** Seals the chunk's append asked for; they run before the step's KV writes. */
  seals: readonly SealOp[];
}

/** One step's plan. */
export interface SchedulerOutput {
  chunks: ScheduledChunk[];
  /** Sequences that cannot fit the KV budget even alone; finished with reason "error". */
  failed: Sequence[];
  /** Demotions of sealed blocks, run before the step's seals and writes. */
  demotions: SealOp[];
}

/** Owns the queues, the GPU slots and every sequence's KV growth. */
export class Scheduler {
  readonly waiting: Sequence[] = [];
  readonly running: Sequence[] = [];
  numPreemptions = 0;
  /** Prompt tokens looked up in the prefix cache at admission (vLLM's prefix_cache_queries). */
  prefixCacheQueries = 0;
  /** Prompt tokens the prefix cache served (vLLM's prefix_cache_hits). */
  prefixCacheHits = 0;
  /** Tokens whose KV preemptions threw away, to be computed again. */
  recomputedTokens = 0;
  /** Steps scheduled with at least one chunk. */
  numScheduledSteps = 0;
  /** Sum over those steps of the sequences running (the mean is this over numScheduledSteps). */
  runningSeqSteps = 0;
  /** Most sequences running in one step. */
  maxRunning = 0;
  /**
   * Scheduled steps after which a sequence still waited (memory, not demand, was the limit), and
   * the sum over them of the sequences running: the capacity at saturation, free of the tail
   * when the last sequences of a burst run alone.
   */
  saturatedSteps = 0;
  /** Sum over saturated steps of the sequences running. */
  saturatedSeqSteps = 0;
  readonly #config: SchedulerConfig;
  readonly #arena: FencedKvArena;
  readonly #freeSlots: number[];
  readonly #demotion: DemotionPlanner | null;
  readonly #maxDemotions: number;
  readonly #prefixCache: PrefixCache | null;
  /** Bytes blocks can fill (whole f16 blocks per slab, less the demotion reserve), all layers. */
  readonly #usableBytes: number;

  /**
   * A scheduler drawing KV blocks from `arena`; under pressure it evicts unreferenced blocks of
   * `prefixCache`, then demotes by `demotion`, and only then preempts.
   */
  constructor(
    config: SchedulerConfig,
    arena: FencedKvArena,
    demotion?: DemotionPlanner,
    prefixCache?: PrefixCache | null,
  ) {
    const headroom = config.admissionHeadroom ?? 0;
    if (!(headroom >= 0 && headroom <= 1)) {
      throw new RangeError(`admissionHeadroom must be in [0, 1], got ${headroom}`);
    }
    this.#config = config;
    this.#arena = arena;
    this.#prefixCache = prefixCache ?? null;
    const f16 = arena.blockBytes("f16");
    this.#usableBytes = (arena.capacityBlocks("f16") -
      arena.reserveSlabs * Math.floor(arena.slabBytes / f16)) * f16 * arena.numLayers;
    this.#maxDemotions = demotion ? config.maxDemotionsPerStep ?? 0 : 0;
    this.#demotion = this.#maxDemotions > 0 ? demotion! : null;
    this.#freeSlots = Array.from(
      { length: config.maxNumSeqs },
      (_, i) => config.maxNumSeqs - 1 - i,
    );
  }

  /** Queues a new sequence; throws QueueFullError when more would wait than maxWaiting allows. */
  add(seq: Sequence): void {
    // those waiting sequences that have a free slot start at the next step: they do not queue
    const queued = this.waiting.length + 1 - this.#freeSlots.length;
    if (queued > this.#config.maxWaiting) {
      throw new QueueFullError(this.#config.maxWaiting);
    }
    this.waiting.push(seq);
  }

  /** Whether any sequence is waiting or running. */
  hasUnfinished(): boolean {
    return this.waiting.length > 0 || this.running.length > 0;
  }

  /** Picks the next step's chunks, appending their tokens to each sequence's KV. */
  schedule(): SchedulerOutput {
    const out: SchedulerOutput = { chunks: [], failed: [], demotions: [] };
    this.#demoteAnsweredThink(out);
    // a running sequence that lacked KV this step would be starved by newcomers
    const starved = this.#scheduleRunning(out);
    const turnedAway = !starved && this.#admitWaiting(out);
    // memory was short if a sequence could not grow or the next one in line did not fit
    this.#demotion?.setPressure(starved || turnedAway);
    if (out.chunks.length > 0) {
      this.numScheduledSteps++;
      this.runningSeqSteps += this.running.length;
      this.maxRunning = Math.max(this.maxRunning, this.running.length);
      if (this.waiting.length > 0) {
        this.saturatedSteps++;
        this.saturatedSeqSteps += this.running.length;
      }
    }
    return out;
  }

  /** Decode rows and the rest of chunked prefills, oldest first; true if one lacked KV. */
  #scheduleRunning(out: SchedulerOutput): boolean {
    let starved = false;
    for (let i = 0; i < this.running.length; i++) {
      const seq = this.running[i];
      const numTokens = Math.min(seq.numUnscheduledTokens, this.#budgetLeft(out));
      if (numTokens === 0) continue;
      let chunk = this.#tryAppend(seq, numTokens);
      while (chunk === null) {
        starved = true;
        // in-flight steps are about to give bytes back: wait for them rather than preempt
        if (this.#arena.bytesHeld() > 0) break;
        // then cached blocks no one uses, then demotion: both keep every sequence running
        if (this.#evict() || this.#demote(out)) {
          chunk = this.#tryAppend(seq, numTokens);
          continue;
        }
        if (this.running.length - 1 > i) {
          this.#preempt(this.running[this.running.length - 1]);
          chunk = this.#tryAppend(seq, numTokens);
          continue;
        }
        // the youngest itself: it waits for older ones to finish, or can never fit alone
        if (this.running.length === 1) {
          chunk = this.#arena.withoutReserve(() => this.#tryAppend(seq, numTokens));
          if (chunk !== null) break;
          this.#finish(seq, "error");
          out.failed.push(seq);
        } else {
          this.#preempt(seq);
        }
        i--;
        break;
      }
      if (chunk !== null) out.chunks.push(chunk);
    }
    return starved;
  }

  /**
   * Admits waiting sequences in arrival order while slots, tokens and bytes last; true when one
   * was turned away for lack of bytes.
   */
  #admitWaiting(out: SchedulerOutput): boolean {
    while (this.waiting.length > 0 && this.#freeSlots.length > 0) {
      const seq = this.waiting[0];
      if (this.#budgetLeft(out) === 0) return false;
      // held back to keep room for the running ones' growth: a choice, not a shortage
      if (!this.#leavesHeadroom(seq)) return false;
      const hit = seq.kv.adoptPrefix();
      const numTokens = Math.min(seq.numUnscheduledTokens, this.#budgetLeft(out));
      let chunk = this.#tryAppend(seq, numTokens);
      while (chunk === null && this.#arena.bytesHeld() === 0 && this.#evict()) {
        chunk = this.#tryAppend(seq, numTokens);
      }
      if (chunk === null && this.#arena.bytesHeld() === 0 && this.#demote(out)) {
        chunk = this.#tryAppend(seq, numTokens);
      }
      if (chunk === null) {
        // a waiting sequence holds no cached block: eviction must be able to take them all
        seq.kv.free();
        if (this.running.length > 0 || this.#arena.bytesUsed() > 0) return true;
        // alone in the arena: the demotion reserve is better spent than kept
        const alone = this.#arena.withoutReserve(() => this.#tryAppend(seq, numTokens));
        if (alone !== null) {
          this.#start(seq, alone, 0, out);
          continue;
        }
        // nothing else holds KV, so this sequence can never fit
        this.#finish(seq, "error");
        out.failed.push(seq);
        continue;
      }
      this.#start(seq, chunk, hit, out);
    }
    return false;
  }

  /** Whether admitting `seq` keeps the headroom share of every sequence's growth free. */
  #leavesHeadroom(seq: Sequence): boolean {
    const share = this.#config.admissionHeadroom ?? 0;
    if (share === 0 || this.running.length === 0) return true;
    let growth = seq.peakKvBytes;
    for (const s of this.running) growth += Math.max(0, s.peakKvBytes - s.kv.bytesHeld());
    const unreferenced = this.#prefixCache?.evictableBytes() ?? 0;
    return share * growth <= this.#usableBytes - (this.#arena.bytesUsed() - unreferenced);
  }

  /** Moves the first waiting sequence into the running batch with its first chunk. */
  #start(seq: Sequence, chunk: ScheduledChunk, hit: number, out: SchedulerOutput): void {
    if (this.#prefixCache !== null) {
      this.prefixCacheQueries += seq.numPromptTokens;
      this.prefixCacheHits += hit;
    }
    this.waiting.shift();
    seq.status = "running";
    seq.slot = this.#freeSlots.pop()!;
    this.running.push(seq);
    out.chunks.push(chunk);
  }

  /** Frees a few unreferenced prefix-cache blocks, oldest first; false when there were none. */
  #evict(): boolean {
    return this.#prefixCache !== null && this.#prefixCache.evict(EVICT_PER_CALL) > 0;
  }

  /** The prefix cache, if caching is on. */
  get prefixCache(): PrefixCache | null {
    return this.#prefixCache;
  }

  /** Demotes the think blocks of sequences whose answer began (the after-answer option). */
  #demoteAnsweredThink(out: SchedulerOutput): void {
    if (this.#demotion === null) return;
    const busy = new Set<number>();
    for (const seq of this.running) {
      if (!seq.thinkDemotionDue) continue;
      const limit = this.#maxDemotions - out.demotions.length;
      const ops = this.#demotion.demoteThink(seq, seq.thinkAfterAnswer!, busy, limit);
      out.demotions.push(...ops.done);
      if (!ops.more) seq.thinkDemotionDue = false;
    }
  }

  /** Demotes blocks of running sequences into the step; false when none could be. */
  #demote(out: SchedulerOutput): boolean {
    if (this.#demotion === null || !this.#demotion.enabled) return false;
    const limit = this.#maxDemotions - out.demotions.length;
    // blocks this step seals or demotes hold nothing yet when its demotions read their sources
    const busy = new Set<number>(out.demotions.map((d) => d.dst));
    for (const chunk of out.chunks) for (const seal of chunk.seals) busy.add(seal.dst);
    const cache = this.#prefixCache;
    const ops = this.#demotion.demote(this.running, busy, limit, (o) => cache?.has(o) === true);
    out.demotions.push(...ops);
    return ops.length > 0;
  }

  /** Demotions so far, by phase and destination dtype. */
  demotionCounts(): ReturnType<DemotionPlanner["counts"]> {
    return this.#demotion?.counts() ?? [];
  }

  /** Blocks sealed straight at a demotion floor under memory pressure, by phase and dtype. */
  floorSealCounts(): ReturnType<DemotionPlanner["counts"]> {
    return this.#demotion?.floorSealCounts() ?? [];
  }

  #budgetLeft(out: SchedulerOutput): number {
    const used = out.chunks.reduce((n, c) => n + c.numTokens, 0);
    return this.#config.maxNumBatchedTokens - used;
  }

  /**
   * Voids the sequence's in-flight steps and cuts its KV back to re-feed known tokens from the
   * last correct position (at least the last known token, whose row samples the next one).
   */
  rewind(seq: Sequence, keepTokens: number): void {
    seq.kv.truncate(Math.min(keepTokens, seq.numKnownTokens - 1));
    seq.epoch++;
    seq.numPending = 0;
    // the voided samples were counted on the GPU
    seq.countsStale = true;
  }

  /** Removes a sequence from its queue and frees its blocks and slot. */
  finish(seq: Sequence, reason: FinishReason): void {
    if (seq.isFinished) return;
    this.#finish(seq, reason);
  }

  #finish(seq: Sequence, reason: FinishReason): void {
    remove(seq.status === "running" ? this.running : this.waiting, seq);
    this.#release(seq);
    seq.status = "finished";
    seq.finishReason = reason;
  }

  #preempt(seq: Sequence): void {
    this.recomputedTokens += seq.numComputedTokens;
    remove(this.running, seq);
    this.#release(seq);
    seq.status = "waiting";
    this.waiting.unshift(seq);
    this.numPreemptions++;
  }

  #release(seq: Sequence): void {
    seq.kv.free();
    seq.epoch++;
    seq.numPending = 0;
    // the GPU runs steps in submission order, so a later step may reuse the slot at once
    if (seq.slot !== null) this.#freeSlots.push(seq.slot);
    seq.slot = null;
    seq.countsStale = true;
  }

  #tryAppend(seq: Sequence, numTokens: number): ScheduledChunk | null {
    const start = seq.numComputedTokens;
    const phases = Array.from({ length: numTokens }, (_, i) => seq.phaseAt(start + i));
    const seals = seq.kv.append(phases);
    if (seals === null) return null;
    const sample = start + numTokens === seq.numTokens;
    return { seq, start, numTokens, sample, seals };
  }
}

function remove(queue: Sequence[], seq: Sequence): void {
  const at = queue.indexOf(seq);
  if (at >= 0) queue.splice(at, 1);
}
