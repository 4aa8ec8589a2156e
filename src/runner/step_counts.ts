/**
 * The step's uniform counts, declared and written in one place: each kernel reads its count
 * (rows, heads, samples, attention rows and splits) from its own 256-byte slot of one buffer.
 * @module
 */
import { countSlot, createCounts, writeCount } from "../gpu/dispatch.ts";
import type { Binding } from "../gpu/kernel_cache.ts";

/** Uniform slots of the counts buffer. */
export const COUNT_SLOTS = { rows: 0, qHeads: 1, kHeads: 2, samples: 3, attention: 4 } as const;

/** A slot's name. */
export type CountSlot = keyof typeof COUNT_SLOTS;

/** What one step's counts are made from. */
export interface StepSize {
  /** Rows (tokens) in the step. */
  rows: number;
  /** Rows sampled. */
  samples: number;
  /** Attention splits of the context (split-K). */
  splits: number;
}

/** Creates the counts buffer of a runner. */
export function createStepCounts(device: GPUDevice): GPUBuffer {
  return createCounts(device, "counts", Object.keys(COUNT_SLOTS).length);
}

/** The binding of one slot. */
export function stepCount(counts: GPUBuffer, slot: CountSlot): Binding {
  return countSlot(counts, COUNT_SLOTS[slot]);
}

/** Writes every slot for a step of `size` (queue-ordered, before the step's submit). */
export function writeStepCounts(
  device: GPUDevice,
  counts: GPUBuffer,
  heads: { numHeads: number; numKvHeads: number },
  size: StepSize,
): void {
  writeCount(device, counts, COUNT_SLOTS.rows, size.rows);
  writeCount(device, counts, COUNT_SLOTS.qHeads, size.rows * heads.numHeads);
  writeCount(device, counts, COUNT_SLOTS.kHeads, size.rows * heads.numKvHeads);
  writeCount(device, counts, COUNT_SLOTS.samples, size.samples);
  writeCount(device, counts, COUNT_SLOTS.attention, size.rows, size.splits);
}
