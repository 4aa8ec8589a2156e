/**
 * Checks a request and builds its Sequence: the KV dtype of each phase (engine flags, the
 * calibration profile, the request's overrides), a block table on the shared arena, and a phase
 * tracker that knows whether the prompt leaves a think block open. A request that cannot ever
 * run (too long for the model, a prompt larger than the whole KV cache) fails here, at once.
 * @module
 */
import { OPEN_DTYPE, SequenceKv } from "../kv/block_table.ts";
import { kvDtype } from "../kv/dtype.ts";
import { peakKvBytes } from "../kv/peak_bytes.ts";
import { PhaseTracker } from "../kv/phase.ts";
import type { PrefixCache } from "../kv/prefix_cache.ts";
import { type EnginePhaseDtypes, resolvePhasePolicy } from "../kv/policy.ts";
import type { KvProfile } from "../kv/profile.ts";
import type { Phase } from "../kv/types.ts";
import { GREEDY, type SamplingParams } from "../runner/types.ts";
import { KvCapacityError } from "./capacity_error.ts";
import { ContextLengthError } from "./errors.ts";
import type { FencedKvArena } from "./fenced_arena.ts";
import { Sequence } from "./sequence.ts";
import type { GenerateRequest } from "./types.ts";

/** What every sequence of one engine shares. */
export interface SequenceFactoryOptions {
  arena: FencedKvArena;
  blockSize: number;
  maxModelLen: number;
  /** Token ids run 0..vocabSize-1; a prompt with any other id is refused at submit. */
  vocabSize: number;
  dtypes: EnginePhaseDtypes;
  profile?: KvProfile | null;
  /** Share of max_tokens counted as think for models without markers. */
  thinkFraction?: number;
  /** Newer tokens a closed block waits for before it is sealed. */
  recentTokens?: number;
  /** Shares full prompt blocks across requests; null or unset: no prefix caching. */
  prefixCache?: PrefixCache | null;
  /** Dtype of a sequence's think blocks once its answer begins (demoted then); unset: kept. */
  thinkAfterAnswer?: string;
  /**
   * Sealing under memory pressure (the demotion planner): the dtype a block of `phase` is sealed
   * in now given its phase's dtype, and a count of each block sealed below that dtype.
   */
  floor?: {
    sealDtype(phase: Phase, dtype: string): string;
    /** The dtype demotion can bring a block of `phase` down to from `dtype`. */
    floorDtype(phase: Phase, dtype: string): string;
    countSeal(phase: Phase, dtype: string, base: string): void;
  };
  openId: number | null;
  closeId: number | null;
}

/** Builds validated sequences. */
export class SequenceFactory {
  readonly #opts: SequenceFactoryOptions;
  #numCreated = 0;

  /** A factory for one engine. */
  constructor(opts: SequenceFactoryOptions) {
    this.#opts = opts;
    // an unknown engine-level dtype is a startup error, not a request error
    resolvePhasePolicy(opts.dtypes, opts.profile);
  }

  /** The canonical dtype per phase for a request's overrides. */
  dtypesFor(request: Pick<GenerateRequest, "kvCacheDtypeThink" | "kvCacheDtypeAnswer">): Record<
    Phase,
    string
  > {
    return resolvePhasePolicy(this.#opts.dtypes, this.#opts.profile, {
      think: request.kvCacheDtypeThink,
      answer: request.kvCacheDtypeAnswer,
    });
  }

  /** A waiting sequence for `request`; throws RangeError, ContextLengthError, KvCapacityError. */
  create(request: GenerateRequest): Sequence {
    const { arena, blockSize, maxModelLen, openId, closeId } = this.#opts;
    if (request.promptIds.length === 0) throw new RangeError("The prompt has no tokens");
    // checked here, not in the batched step, so that one bad request never fails its batch
    const { vocabSize } = this.#opts;
    const bad = request.promptIds.findIndex((id) =>
      !Number.isInteger(id) || id < 0 || id >= vocabSize
    );
    if (bad >= 0) {
      throw new RangeError(
        `Prompt token ${bad} (id ${
          request.promptIds[bad]
        }) is outside the vocabulary of ${vocabSize}`,
      );
    }
    if (!Number.isInteger(request.maxTokens) || request.maxTokens < 1) {
      throw new RangeError(`maxTokens must be a positive integer, got ${request.maxTokens}`);
    }
    const lp = request.logprobs;
    if (lp !== undefined && !(Number.isInteger(lp) && lp >= 0 && lp <= 20)) {
      throw new RangeError(`logprobs must be an integer from 0 to 20, got ${lp}`);
    }
    for (const name of ["presencePenalty", "frequencyPenalty"] as const) {
      const v = request[name];
      if (v !== undefined && !Number.isFinite(v)) {
        throw new RangeError(`${name} must be a finite number, got ${v}`);
      }
    }
    const requested = request.promptIds.length + request.maxTokens;
    if (requested > maxModelLen) throw new ContextLengthError(requested, maxModelLen);
    const dtypes = this.dtypesFor(request);
    const recent = this.#opts.recentTokens ?? 0;
    const needed = minPromptBytes(
      arena,
      blockSize,
      request.promptIds.length,
      dtypes.prompt,
      recent,
    );
    if (needed > arena.budgetBytes) throw new KvCapacityError(needed, arena.budgetBytes);
    const tracker = new PhaseTracker({
      openId,
      closeId,
      startsInThink: opensThink(request.promptIds, openId, closeId),
      thinkFraction: this.#opts.thinkFraction,
      maxTokens: request.maxTokens,
    });
    const after = this.#thinkAfter(dtypes.think);
    // think blocks sealed after the answer began go straight to the after-answer dtype
    let answered = false;
    const floor = this.#opts.floor;
    const base = (phase: Phase) =>
      phase === "think" && answered && after !== null ? after : dtypes[phase];
    // what demotion can bring each phase down to bounds the bytes the sequence needs at its longest
    const reach = (phase: Phase) => floor?.floorDtype(phase, dtypes[phase]) ?? dtypes[phase];
    const [think, answer] = [reach("think"), reach("answer")];
    const peak = peakKvBytes(arena, {
      blockSize,
      recentTokens: recent,
      promptTokens: request.promptIds.length,
      outputTokens: request.maxTokens,
      promptDtype: reach("prompt"),
      outputDtype: arena.blockBytes(think) >= arena.blockBytes(answer) ? think : answer,
    });
    const seq: Sequence = new Sequence({
      id: request.requestId ?? `seq-${++this.#numCreated}`,
      peakKvBytes: peak,
      request,
      sampling: withDefaults(request.sampling),
      kv: new SequenceKv(arena, {
        blockSize,
        dtypeFor: (phase) => floor?.sealDtype(phase, base(phase)) ?? base(phase),
        onSeal: (phase, dtype) => floor?.countSeal(phase, dtype, base(phase)),
        recentTokens: recent,
        prefix: this.#opts.prefixCache
          ? { cache: this.#opts.prefixCache, promptIds: request.promptIds }
          : undefined,
      }),
      tracker,
      thinkAfterAnswer: after,
      onAnswer: () => answered = true,
    });
    return seq;
  }

  /** The after-answer think dtype when it is smaller than the think dtype, else null. */
  #thinkAfter(think: string): string | null {
    const after = this.#opts.thinkAfterAnswer;
    if (after === undefined || after.trim().toLowerCase() === "none") return null;
    const d = kvDtype(after);
    return d.meanBits < kvDtype(think).meanBits ? d.name : null;
  }
}

/**
 * Bytes (all layers) of a prompt once prefilled and its first token sampled: full blocks with
 * `recent` tokens behind them sealed, the rest (the window and the open block) f16.
 */
function minPromptBytes(
  arena: FencedKvArena,
  blockSize: number,
  numTokens: number,
  dtype: string,
  recent: number,
): number {
  const total = numTokens + 1;
  const sealed = Math.max(0, Math.floor((total - recent) / blockSize));
  const full = Math.min(sealed, Math.floor(numTokens / blockSize));
  const f16 = Math.ceil(numTokens / blockSize) - full;
  return (full * arena.blockBytes(dtype) + f16 * arena.blockBytes(OPEN_DTYPE)) * arena.numLayers;
}

/** The request's sampling parameters over greedy ones (fields left undefined keep the default). */
function withDefaults(sampling: Partial<SamplingParams> = {}): SamplingParams {
  const given = Object.entries(sampling).filter(([, v]) => v !== undefined);
  return { ...GREEDY, ...Object.fromEntries(given) };
}

/** Whether the prompt's last open marker has no close marker after it. */
function opensThink(promptIds: readonly number[], openId: number | null, closeId: number | null) {
  if (openId === null) return false;
  const open = promptIds.lastIndexOf(openId);
  return open >= 0 && (closeId === null || promptIds.indexOf(closeId, open) < 0);
}
