/**
 * Incremental detokenization. Decoding token by token breaks words whose pieces merge and
 * characters whose UTF-8 bytes span tokens, so each new token decodes a short window of recent
 * ids and emits only the text beyond what the window's stable prefix already gave; a trailing
 * U+FFFD (an incomplete character) is held back until the next token completes it.
 * @module
 */

/** Turns ids into text. */
export type DecodeFn = (ids: readonly number[]) => string;

/** Ids of context a fresh detokenizer decodes with (so a first word keeps its leading space). */
const CONTEXT_TOKENS = 4;
/** Window length past which emitted ids are dropped from the front. */
const MAX_WINDOW = 64;

/** One sequence's text stream. */
export class IncrementalDetokenizer {
  readonly #decode: DecodeFn;
  #ids: number[];
  /** ids[prefixOffset, readOffset) decode to text already emitted. */
  #prefixOffset = 0;
  #readOffset: number;

  /** A stream that continues after `contextIds` (the prompt), whose text is not emitted. */
  constructor(decode: DecodeFn, contextIds: readonly number[] = []) {
    this.#decode = decode;
    this.#ids = contextIds.slice(-CONTEXT_TOKENS);
    this.#readOffset = this.#ids.length;
  }

  /** Adds one id; returns the new text that is now stable (often "", never half a character). */
  push(id: number): string {
    this.#ids.push(id);
    const prefix = this.#decode(this.#ids.slice(this.#prefixOffset, this.#readOffset));
    const text = this.#decode(this.#ids.slice(this.#prefixOffset));
    if (text.length <= prefix.length || text.endsWith("\uFFFD")) return "";
    this.#advance();
    return text.slice(prefix.length);
  }

  /** Returns whatever text is held back, complete or not (the sequence ended). */
  flush(): string {
    const prefix = this.#decode(this.#ids.slice(this.#prefixOffset, this.#readOffset));
    const text = this.#decode(this.#ids.slice(this.#prefixOffset));
    this.#advance();
    return text.slice(prefix.length);
  }

  #advance(): void {
    this.#prefixOffset = this.#readOffset;
    this.#readOffset = this.#ids.length;
    if (this.#prefixOffset > MAX_WINDOW) {
      this.#ids = this.#ids.slice(this.#prefixOffset);
      this.#readOffset -= this.#prefixOffset;
      this.#prefixOffset = 0;
    }
  }
}
