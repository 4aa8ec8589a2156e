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

/** A seal: quantize the f16 block at `src` into the block at `dst` of dtype `dtype` (all layers). */
export interface SealOp {
  /** Byte offset of the source f16 block in each layer's pool. */
  src: number;
  /** Byte offset of the destination block. */
  dst: number;
  /** Registry name of the destination dtype. */
  dtype: string;
  /** Tokens written in the source block (a block closed at a phase change is partial). */
  tokens?: number;
  /**
   * Dtype of the source block when it is already sealed (a demotion: decode, then re-seal);
   * absent or "f16" for an ordinary seal of an open block.
   */
  srcDtype?: string;
}

/** KV memory one phase of a request used. */
export interface PhaseKvUsage {
  /** Tokens of the phase held in the KV cache. */
  tokens: number;
  /** Blocks they occupy. */
  blocks: number;
  /** Bytes of those blocks, all layers, scales included. */
  bytes: number;
  /** Blocks of each dtype. */
  dtypes: Record<string, number>;
}
