/**
 * When a sequence stops: an end-of-sequence or stop token id, max_tokens, or a stop string. Stop
 * strings are matched on the text stream, across token boundaries: text that could still be the
 * start of a stop string is held back until the next tokens settle it, and a stop string is
 * never emitted.
 * @module
 */
import type { FinishReason } from "./types.ts";

/** What ends a sequence. */
export interface StopConditions {
  eosTokenIds: readonly number[];
  stopTokenIds?: readonly number[];
  /** Keep going past end-of-sequence tokens (stop token ids still stop). */
  ignoreEos?: boolean;
  maxTokens: number;
  stop?: readonly string[];
}

/** Text that may be emitted, and whether a stop string ended the sequence. */
export interface StopTextResult {
  text: string;
  stopped: boolean;
}

/** Checks one sequence's stop conditions as its tokens and text arrive. */
export class StopChecker {
  readonly #stopIds: ReadonlySet<number>;
  readonly #maxTokens: number;
  readonly #stop: readonly string[];
  /** Text held back because it could begin a stop string. */
  #held = "";

  /** A checker for one request's conditions. */
  constructor(conditions: StopConditions) {
    this.#stopIds = new Set([
      ...(conditions.ignoreEos ? [] : conditions.eosTokenIds),
      ...(conditions.stopTokenIds ?? []),
    ]);
    this.#maxTokens = conditions.maxTokens;
    this.#stop = (conditions.stop ?? []).filter((s) => s.length > 0);
  }

  /** Whether `tokenId` ends the sequence by itself (it produces no text). */
  isStopToken(tokenId: number): boolean {
    return this.#stopIds.has(tokenId);
  }

  /** "length" once `numOutputTokens` reaches max_tokens. */
  checkLength(numOutputTokens: number): FinishReason | null {
    return numOutputTokens >= this.#maxTokens ? "length" : null;
  }

  /** Adds new text; returns what is safe to emit and whether a stop string was completed. */
  acceptText(delta: string): StopTextResult {
    const text = this.#held + delta;
    let cut = -1;
    for (const stop of this.#stop) {
      const at = text.indexOf(stop);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.#held = "";
      return { text: text.slice(0, cut), stopped: true };
    }
    const keep = this.#partialStopLength(text);
    this.#held = text.slice(text.length - keep);
    return { text: text.slice(0, text.length - keep), stopped: false };
  }

  /** Releases held-back text: the sequence ended otherwise, or a phase change splits the text. */
  flush(): string {
    const text = this.#held;
    this.#held = "";
    return text;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of a stop string. */
  #partialStopLength(text: string): number {
    let best = 0;
    for (const stop of this.#stop) {
      for (let n = Math.min(stop.length - 1, text.length); n > best; n--) {
        if (text.endsWith(stop.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
