/**
 * Shared KV-cache shapes: the phase of a token and the block-table entry every layer's
 * attention reads.
 * @module
 */

/** The phase a token belongs to. */
export type Phase = "prompt" | "think" | "answer";

/** All phases, in order. */
export const PHASES: readonly Phase[] = ["prompt", "think", "answer"];

/**
 * One block of a sequence: `blockSize` consecutive tokens, every layer, K and V.
 * `offset` is in bytes within each layer's KV pool buffer (same offset in every layer).
 */
export interface BlockEntry {
  /** Byte offset of the block in each layer's KV pool. */
  offset: number;
  /** Registry name of the dtype the block is stored in (the open block is always "f16"). */
  dtype: string;
  /** The phase of every token in the block (a phase change starts a new block). */
  phase: Phase;
  /** Tokens written into the block so far. */
  tokens: number;
  /** Set once the block was re-sealed into a smaller dtype than its phase's (a demotion). */
  demoted?: boolean;
}
