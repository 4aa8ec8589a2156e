/**
 * How many arena bytes a sequence holds at its longest, from its block layout alone: what an
 * admission that reserves a request's max_tokens (`--admission-headroom`) keeps free for it.
 * @module
 */
import type { KvArena } from "./arena.ts";
import { OPEN_DTYPE } from "./block_table.ts";

/** A sequence's shape and the dtypes its blocks end in. */
export interface PeakShape {
  /** Tokens per block. */
  blockSize: number;
  /** The recent window: closed blocks with fewer newer tokens behind them stay f16. */
  recentTokens: number;
  promptTokens: number;
  /** Tokens the sequence may generate (max_tokens). */
  outputTokens: number;
  /** Dtype of the sealed prompt blocks. */
  promptDtype: string;
  /** Dtype of the sealed output blocks: the wider of think's and answer's. */
  outputDtype: string;
}

/**
 * Arena bytes (all layers) of a sequence at `promptTokens + outputTokens`: an upper bound up to
 * slab rounding. The output gets one block more than its tokens fill (the think→answer change
 * closes a partial block), and the newest ⌈R/b⌉ + 2 blocks are counted f16 (the open block, the
 * window, and one partial block a phase change may leave inside it).
 */
export function peakKvBytes(arena: KvArena, shape: PeakShape): number {
  const b = shape.blockSize;
  const promptBlocks = Math.ceil(shape.promptTokens / b);
  const outputBlocks = shape.outputTokens > 0 ? Math.ceil(shape.outputTokens / b) + 1 : 0;
  const unsealed = Math.min(
    promptBlocks + outputBlocks,
    Math.ceil(shape.recentTokens / b) + 2,
  );
  // the window holds the newest blocks: output ones first, then the prompt's last
  const sealedOutput = Math.max(0, outputBlocks - unsealed);
  const sealedPrompt = promptBlocks - Math.max(0, unsealed - outputBlocks);
  const f16 = arena.blockBytes(OPEN_DTYPE);
  const perLayer = unsealed * f16 +
    sealedPrompt * arena.blockBytes(shape.promptDtype) +
    sealedOutput * arena.blockBytes(shape.outputDtype);
  return perLayer * arena.numLayers;
}
