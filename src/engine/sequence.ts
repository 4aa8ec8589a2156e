/**
 * One request as the engine sees it: its tokens, what is written in its KV cache and what is
 * still in flight on the GPU. Plain data with derived getters; the scheduler moves it between
 * queues and the engine core appends its tokens.
 * @module
 */
import type { SequenceKv } from "../kv/block_table.ts";
import type { PhaseTracker } from "../kv/phase.ts";
import type { Phase } from "../kv/types.ts";
import type { Penalties, SamplingParams } from "../runner/types.ts";
import type { FinishReason, GenerateRequest } from "./types.ts";

/** Where a sequence is in its life. */
export type SequenceStatus = "waiting" | "running" | "finished";

/** What a sequence is made of. */
export interface SequenceInit {
  id: string;
  request: GenerateRequest;
  sampling: SamplingParams;
  kv: SequenceKv;
  tracker: PhaseTracker;
  /** Arena bytes the sequence holds at its longest, demoted to its floors (default 0). */
  peakKvBytes?: number;
  /** Dtype the think blocks are demoted to when the answer begins; null: kept. */
  thinkAfterAnswer?: string | null;
  /** Called once when the answer begins (the KV table then seals think blocks smaller). */
  onAnswer?: () => void;
}

/** A request's tokens and its place in the engine. */
export class Sequence {
  readonly id: string;
  readonly request: GenerateRequest;
  readonly promptIds: readonly number[];
  readonly sampling: SamplingParams;
  /** Presence and frequency penalties, or undefined when the request sets neither. */
  readonly penalties: Penalties | undefined;
  readonly kv: SequenceKv;
  readonly tracker: PhaseTracker;
  /** Arena bytes (all layers) the sequence holds at its longest, demoted to its floors. */
  readonly peakKvBytes: number;
  /** Generated tokens read back from the GPU (the forced close marker included). */
  readonly outputIds: number[] = [];
  /** Phase of each token in outputIds. */
  readonly outputPhases: Phase[] = [];
  status: SequenceStatus = "waiting";
  finishReason: FinishReason | null = null;
  /** GPU slot holding the sequence's last sampled token while it runs. */
  slot: number | null = null;
  /** Tokens sampled by submitted steps and not read back yet. */
  numPending = 0;
  /** Bumped whenever the results of this sequence's in-flight steps become void. */
  epoch = 0;
  numThinkTokens = 0;
  /**
   * The slot's GPU token counts may not match outputIds (a new slot, a preemption, a rewind,
   * or a forced token): the next step resets them from outputIds.
   */
  countsStale = true;
  /** Dtype the think blocks are demoted to when the answer begins; null: kept. */
  readonly thinkAfterAnswer: string | null;
  /** The answer began and sealed think blocks above thinkAfterAnswer remain to be demoted. */
  thinkDemotionDue = false;
  readonly #onAnswer: () => void;
  #answered = false;

  /** A waiting sequence with no KV and no output. */
  constructor(init: SequenceInit) {
    this.id = init.id;
    this.request = init.request;
    this.promptIds = init.request.promptIds;
    this.sampling = init.sampling;
    const presence = init.request.presencePenalty ?? 0;
    const frequency = init.request.frequencyPenalty ?? 0;
    this.penalties = presence !== 0 || frequency !== 0 ? { presence, frequency } : undefined;
    this.kv = init.kv;
    this.tracker = init.tracker;
    this.peakKvBytes = init.peakKvBytes ?? 0;
    this.thinkAfterAnswer = init.thinkAfterAnswer ?? null;
    this.#onAnswer = init.onAnswer ?? (() => {});
  }

  /** Prompt tokens. */
  get numPromptTokens(): number {
    return this.promptIds.length;
  }

  /** Prompt and output tokens known on the CPU. */
  get numKnownTokens(): number {
    return this.promptIds.length + this.outputIds.length;
  }

  /** Known tokens plus the ones sampled on the GPU and still in flight. */
  get numTokens(): number {
    return this.numKnownTokens + this.numPending;
  }

  /** Tokens whose KV is written or scheduled to be written. */
  get numComputedTokens(): number {
    return this.kv.numTokens;
  }

  /** Index in the output of the next token this sequence samples (drives seeded sampling). */
  get sampleIndex(): number {
    return this.outputIds.length + this.numPending;
  }

  /** Rows the sequence still needs: unwritten tokens, if it may sample again. */
  get numUnscheduledTokens(): number {
    if (this.sampleIndex >= this.request.maxTokens) return 0;
    return this.numTokens - this.numComputedTokens;
  }

  /** Whether the sequence is done. */
  get isFinished(): boolean {
    return this.status === "finished";
  }

  /** Token at `position`, or null for the one still on the GPU. */
  tokenAt(position: number): number | null {
    const p = this.promptIds.length;
    if (position < p) return this.promptIds[position];
    return position - p < this.outputIds.length ? this.outputIds[position - p] : null;
  }

  /** Phase to write `position` under; a token still on the GPU gets the tracker's guess. */
  phaseAt(position: number): Phase {
    const p = this.promptIds.length;
    if (position < p) return "prompt";
    return this.outputPhases[position - p] ?? this.tracker.peek();
  }

  /** Records a token read back, with its phase. */
  appendOutput(tokenId: number, phase: Phase): void {
    this.outputIds.push(tokenId);
    this.outputPhases.push(phase);
    if (phase === "think") this.numThinkTokens++;
    if (phase === "answer" && this.numThinkTokens > 0 && !this.#answered) {
      this.#answered = true;
      this.#onAnswer();
      this.thinkDemotionDue = this.thinkAfterAnswer !== null;
    }
  }
}
