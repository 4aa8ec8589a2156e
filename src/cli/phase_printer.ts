/**
 * Streams generated text to a terminal or a pipe with reasoning and answer kept apart: on a
 * color terminal reasoning is dimmed; elsewhere each phase's text starts under a label line, so
 * a reader of a log can still tell them apart.
 * @module
 */
import type { GenerateOutput } from "../engine/types.ts";
import type { Phase } from "../kv/types.ts";

const DIM = "\x1b[2m";
const UNDIM = "\x1b[22m";
const LABELS: Record<Phase, string> = {
  prompt: "[prompt]",
  think: "[reasoning]",
  answer: "[answer]",
};

/** Where text goes: stdout in the CLI, a buffer in tests. */
export interface TextSink {
  writeSync(bytes: Uint8Array): number;
}

/** Writes the text of engine outputs as they arrive. */
export class PhasePrinter {
  readonly #sink: TextSink;
  readonly #color: boolean;
  readonly #encoder = new TextEncoder();
  #phase: Phase | null = null;
  #atLineStart = true;

  /** A printer to `sink`; `color` dims reasoning instead of labelling phases. */
  constructor(sink: TextSink, color: boolean) {
    this.#sink = sink;
    this.#color = color;
  }

  /** Prints one output's text. */
  write(output: GenerateOutput): void {
    if (output.text === "") return;
    let text = "";
    if (output.phase !== this.#phase) {
      if (!this.#atLineStart) text += "\n";
      if (!this.#color) text += `${LABELS[output.phase]}\n`;
      this.#phase = output.phase;
    }
    text += this.#color && output.phase === "think" ? `${DIM}${output.text}${UNDIM}` : output.text;
    this.#atLineStart = output.text.endsWith("\n");
    this.#put(text);
  }

  /** Ends the last line, so what follows starts on a line of its own. */
  end(): void {
    if (!this.#atLineStart) this.#put("\n");
    this.#atLineStart = true;
  }

  #put(text: string): void {
    const bytes = this.#encoder.encode(text);
    for (let at = 0; at < bytes.length;) at += this.#sink.writeSync(bytes.subarray(at));
  }
}
