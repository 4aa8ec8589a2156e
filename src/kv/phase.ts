/**
 * The phase of each generated token, from the model's think markers (token ids, never strings)
 * or, for a model without markers, from a token-count rule.
 * @module
 */
import type { Phase } from "./types.ts";

/** What a tracker needs to know about the model and the request. */
export interface PhaseTrackerOptions {
  /** Token id of the think open marker (`<think>`), or null when the model has none. */
  openId: number | null;
  /** Token id of the think close marker (`</think>`), or null when the model has none. */
  closeId: number | null;
  /** Whether the rendered prompt leaves a think block open (R1-style templates). */
  startsInThink: boolean;
  /** Without markers: the share of maxTokens counted as think (default 0.75). */
  thinkFraction?: number;
  /** The request's max_tokens (the no-marker rule is a share of it). */
  maxTokens: number;
}

/** Default share of max_tokens counted as think for models without markers. */
export const DEFAULT_THINK_FRACTION = 0.75;

/** Follows one sequence's generated tokens through think and answer. */
export class PhaseTracker {
  readonly #openId: number | null;
  readonly #closeId: number | null;
  /** Generated tokens counted as think by the no-marker rule; null when markers decide. */
  readonly #thinkBudget: number | null;
  #phase: Phase;
  #numObserved = 0;

  /** A tracker for a sequence about to generate its first token. */
  constructor(opts: PhaseTrackerOptions) {
    this.#openId = opts.openId;
    this.#closeId = opts.closeId;
    const fraction = opts.thinkFraction ?? DEFAULT_THINK_FRACTION;
    if (!(fraction >= 0 && fraction <= 1)) {
      throw new RangeError(`thinkFraction must be in [0, 1], got ${fraction}`);
    }
    const hasMarkers = opts.openId !== null || opts.closeId !== null;
    this.#thinkBudget = hasMarkers ? null : Math.floor(fraction * opts.maxTokens);
    this.#phase = hasMarkers
      ? (opts.startsInThink ? "think" : "answer")
      : (this.#thinkBudget! > 0 ? "think" : "answer");
  }

  /** The phase the next generated token gets unless it is a marker. */
  peek(): Phase {
    return this.#phase;
  }

  /** Generated tokens observed so far. */
  get numObserved(): number {
    return this.#numObserved;
  }

  /** The phase of generated token `tokenId` (markers belong to think); advances. */
  observe(tokenId: number): Phase {
    this.#numObserved++;
    if (this.#thinkBudget !== null) {
      const phase = this.#phase;
      this.#phase = this.#numObserved < this.#thinkBudget ? "think" : "answer";
      return phase;
    }
    if (this.#phase === "answer" && tokenId === this.#openId) this.#phase = "think";
    if (this.#phase !== "think") return this.#phase;
    if (tokenId === this.#closeId) this.#phase = "answer";
    return "think";
  }
}
