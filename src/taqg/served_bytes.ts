/**
 * KV bytes per token counted one way everywhere, as the engine holds them: every block a
 * sequence holds, sealed ones at their dtype and the recent window, the open block and partial
 * blocks closed at a phase change at f16, every layer, every scale byte.
 * @module
 */
import { kvDtype } from "../kv/dtype.ts";
import type { KvLayout } from "../kv/layout.ts";
import type { Phase } from "../kv/types.ts";

/** Model dimensions the byte count needs. */
export interface ByteDims {
  layout: KvLayout;
  numLayers: number;
}

/** Blocks of a sequence whose tokens have `phases` (a phase change starts a new block). */
export function blocksOf(
  phases: readonly Phase[],
  blockSize: number,
): { phase: Phase; start: number; end: number }[] {
  const blocks: { phase: Phase; start: number; end: number }[] = [];
  phases.forEach((phase, t) => {
    const last = blocks.at(-1);
    if (last && last.phase === phase && last.end - last.start < blockSize) last.end = t + 1;
    else blocks.push({ phase, start: t, end: t + 1 });
  });
  return blocks;
}

/**
 * Bytes (all layers) a sequence holding tokens of `phases` occupies: a closed block with at least
 * `recentTokens` tokens after it is at `dtypeOf(block)`, every other block f16.
 */
export function heldBytes(
  phases: readonly Phase[],
  dtypeOf: (phase: Phase, index: number) => string,
  recentTokens: number,
  dims: ByteDims,
): number {
  const blocks = blocksOf(phases, dims.layout.blockSize);
  let bytes = 0;
  blocks.forEach((b, i) => {
    const sealed = i < blocks.length - 1 && phases.length - b.end >= recentTokens;
    bytes += kvDtype(sealed ? dtypeOf(b.phase, i) : "f16").blockBytes(dims.layout);
  });
  return bytes * dims.numLayers;
}

/** Bytes per token over sequences: their held bytes summed over their tokens summed. */
export function bytesPerToken(
  sequences: readonly (readonly Phase[])[],
  dtypes: Readonly<Record<Phase, string>>,
  recentTokens: number,
  dims: ByteDims,
): number {
  let bytes = 0, tokens = 0;
  for (const phases of sequences) {
    bytes += heldBytes(phases, (p) => dtypes[p], recentTokens, dims);
    tokens += phases.length;
  }
  return tokens === 0 ? NaN : bytes / tokens;
}

/**
 * The phases of a long reasoning trace of `tokens` tokens (`prompt` of them prompt, the rest
 * three quarters think, then answer): how a long trace's bytes per token are reported.
 */
export function longTrace(tokens: number, prompt = 64): Phase[] {
  const generated = tokens - prompt;
  const think = Math.round(0.75 * generated);
  return [
    ...Array<Phase>(prompt).fill("prompt"),
    ...Array<Phase>(think).fill("think"),
    ...Array<Phase>(generated - think).fill("answer"),
  ];
}
