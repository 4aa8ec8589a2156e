/**
 * Turns one sequence's tokens, as they are read back, into output pieces: detokenized text with
 * think markers and stop tokens left out, stop strings held back and cut, and the reason the
 * sequence finished.
 * @module
 */
import type { Phase } from "../kv/types.ts";
import { type DecodeFn, IncrementalDetokenizer } from "./detokenizer.ts";
import { StopChecker, type StopConditions } from "./stop_checker.ts";
import type { FinishReason, GenerateOutput } from "./types.ts";

/** What a processor needs to know about the model and the request. */
export interface OutputProcessorOptions {
  decode: DecodeFn;
  promptIds: readonly number[];
  /** Think open/close marker ids: they change the phase and print nothing. */
  markerIds: readonly number[];
  conditions: StopConditions;
}

/** The output piece of one token and, when it ended the sequence, why. */
export interface TokenOutcome {
  output: GenerateOutput;
  finishReason: FinishReason | null;
}

/** One sequence's detokenizer and stop checks. */
export class OutputProcessor {
  readonly #detokenizer: IncrementalDetokenizer;
  readonly #stop: StopChecker;
  readonly #markerIds: readonly number[];

  /** A processor for a sequence that has generated nothing yet. */
  constructor(opts: OutputProcessorOptions) {
    this.#detokenizer = new IncrementalDetokenizer(opts.decode, opts.promptIds);
    this.#stop = new StopChecker(opts.conditions);
    this.#markerIds = opts.markerIds;
  }

  /** Takes the sequence's next token (its `numOutputTokens`-th), of phase `phase`. */
  accept(tokenId: number, phase: Phase, numOutputTokens: number): TokenOutcome {
    const output: GenerateOutput = { tokenIds: [tokenId], text: "", phase };
    let finishReason: FinishReason | null = null;
    if (this.#stop.isStopToken(tokenId)) {
      finishReason = "stop";
      output.text = this.#flush();
    } else if (this.#markerIds.includes(tokenId)) {
      // a stop string does not span a phase change: what was held back is plain text
      output.text = this.#stop.flush();
    } else {
      const result = this.#stop.acceptText(this.#detokenizer.push(tokenId));
      output.text = result.text;
      if (result.stopped) finishReason = "stop";
    }
    if (finishReason === null) {
      finishReason = this.#stop.checkLength(numOutputTokens);
      if (finishReason !== null) output.text += this.#flush();
    }
    return { output, finishReason };
  }

  /** The text still held back by the detokenizer and the stop checker, stop strings cut. */
  #flush(): string {
    const result = this.#stop.acceptText(this.#detokenizer.flush());
    return result.stopped ? result.text : result.text + this.#stop.flush();
  }
}
