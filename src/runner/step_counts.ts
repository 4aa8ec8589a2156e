/**
 * The counts buffer of a step: one uniform slot per count its kernels stop at (dispatches are
 * sized for the most rows; each kernel reads the exact count). Declared, allocated, bound and
 * written here only.
 * @module
 */
import type { Binding } from "../gpu/kernel_cache.ts";
import { countSlot, createCounts, writeCount } from "../gpu/dispatch.ts";

/** Uniform slots of the counts buffer. */
const COUNT_SLOTS = { rows: 0, qHeads: 1, kHeads: 2, samples: 3 } as const;

/** A value per count of a step: rows, q heads and KV heads over the rows, samples. */
export type StepCountValues = Record<keyof typeof COUNT_SLOTS, number>;

/** The binding of each count, as the kernels read it. */
export type StepCounts = Record<keyof typeof COUNT_SLOTS, Binding>;

/** A counts buffer with a slot for every count. */
export function createStepCounts(device: GPUDevice): GPUBuffer {
  return createCounts(device, "counts", Object.keys(COUNT_SLOTS).length);
}

/** The bindings of the counts in `buffer`. */
export function stepCounts(buffer: GPUBuffer): StepCounts {
  const slot = (name: keyof typeof COUNT_SLOTS) => countSlot(buffer, COUNT_SLOTS[name]);
  return {
    rows: slot("rows"),
    qHeads: slot("qHeads"),
    kHeads: slot("kHeads"),
    samples: slot("samples"),
  };
}

/** Writes a step's counts (queue-ordered: they land before the next submit runs). */
export function writeStepCounts(device: GPUDevice, buffer: GPUBuffer, v: StepCountValues): void {
  writeCount(device, buffer, COUNT_SLOTS.rows, v.rows);
  writeCount(device, buffer, COUNT_SLOTS.qHeads, v.qHeads);
  writeCount(device, buffer, COUNT_SLOTS.kHeads, v.kHeads);
  writeCount(device, buffer, COUNT_SLOTS.samples, v.samples);
}
