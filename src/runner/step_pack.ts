/**
 * Validation and packing of a StepInput into the u32 arrays the kernels read. Pure host code:
 * everything that can be wrong with a step is caught here, before anything touches the GPU.
 * @module
 */
import type { StepInput } from "./types.ts";
import { kvDtype } from "../kv/dtype.ts";
import type { KvLayout } from "../kv/layout.ts";
import { NULL_TOKEN, ROW_WORDS, SEQ_WORDS, TABLE_WORDS } from "./step_layout.ts";
import { packSample, SAMPLE_WORDS } from "./ops/sample.ts";
import { checkPenalties } from "./penalty_check.ts";

/** What a runner can hold; steps beyond it are rejected. */
export interface StepLimits {
  maxRows: number;
  maxSeqs: number;
  maxTableEntries: number;
  vocabSize: number;
  poolBytes: number;
  kv: KvLayout;
}

/** A step as the kernels read it. */
export interface PackedStep {
  numRows: number;
  numSamples: number;
  /** Longest attention context of any row (tokens). */
  maxContext: number;
  rows: Uint32Array<ArrayBuffer>;
  seqs: Uint32Array<ArrayBuffer>;
  table: Uint32Array<ArrayBuffer>;
  samples: Uint32Array<ArrayBuffer>;
  /** Step row whose hidden state each sample reads. */
  sampleRows: Uint32Array<ArrayBuffer>;
  /** Slots whose token counts are reset to `tokens` before the step. */
  countResets: { slot: number; tokens: readonly number[] }[];
}

/** Validates `input` against `limits` and packs it; throws RangeError naming the fault. */
export function packStep(input: StepInput, limits: StepLimits): PackedStep {
  const { rows: stepRows, seqs: stepSeqs } = input;
  if (stepRows.length > limits.maxRows) {
    throw new RangeError(`Step has ${stepRows.length} rows; the runner holds ${limits.maxRows}`);
  }
  if (stepSeqs.length > limits.maxSeqs) {
    throw new RangeError(
      `Step has ${stepSeqs.length} sequences; the runner holds ${limits.maxSeqs}`,
    );
  }
  const f16 = kvDtype("f16");
  const f16Bytes = f16.blockBytes(limits.kv);

  const seqs = new Uint32Array(Math.max(1, stepSeqs.length) * SEQ_WORDS);
  const numEntries = stepSeqs.reduce((n, s) => n + s.blocks.length, 0);
  if (numEntries > limits.maxTableEntries) {
    throw new RangeError(
      `Step block tables hold ${numEntries} blocks; the runner holds ${limits.maxTableEntries}`,
    );
  }
  const table = new Uint32Array(Math.max(1, numEntries) * TABLE_WORDS);
  let entry = 0;
  stepSeqs.forEach((s, i) => {
    if (!Number.isInteger(s.slot) || s.slot < 0 || s.slot >= limits.maxSeqs) {
      throw new RangeError(`Sequence ${i} has slot ${s.slot}; slots are 0..${limits.maxSeqs - 1}`);
    }
    seqs.set([entry, s.blocks.length, s.slot], i * SEQ_WORDS);
    checkPenalties(s, i, limits.vocabSize);
    let start = 0;
    for (const b of s.blocks) {
      const info = kvDtype(b.dtype);
      if (
        b.offset % 16 !== 0 || b.offset < 0 ||
        b.offset + info.blockBytes(limits.kv) > limits.poolBytes
      ) {
        throw new RangeError(
          `Block offset ${b.offset} (${b.dtype}) is unaligned or outside the KV pool`,
        );
      }
      table.set([b.offset / 4, info.id, b.tokens, start], entry * TABLE_WORDS);
      start += b.tokens;
      entry++;
    }
  });

  const rows = new Uint32Array(Math.max(1, stepRows.length) * ROW_WORDS);
  const lastRow = new Map<number, number>();
  let maxContext = 0;
  stepRows.forEach((r, i) => {
    const s = stepSeqs[r.seq];
    if (!s) {
      throw new RangeError(`Row ${i} names sequence ${r.seq}; the step has ${stepSeqs.length}`);
    }
    if (!Number.isInteger(r.position) || r.position < 0) {
      throw new RangeError(`Row ${i} has position ${r.position}`);
    }
    const found = blockAt(s.blocks, r.position);
    if (!found) {
      throw new RangeError(`Row ${i} position ${r.position} is past its sequence's blocks`);
    }
    const { block, start } = found;
    if (block.dtype !== "f16" || block.offset + f16Bytes > limits.poolBytes) {
      throw new RangeError(
        `Row ${i} writes into a ${block.dtype} block; the open block must be f16`,
      );
    }
    if (
      r.token !== null && (!Number.isInteger(r.token) || r.token < 0 || r.token >= limits.vocabSize)
    ) {
      throw new RangeError(
        `Row ${i} token ${r.token} is outside the vocabulary of ${limits.vocabSize}`,
      );
    }
    rows.set([
      r.token ?? NULL_TOKEN,
      r.position,
      r.seq,
      s.slot,
      block.offset / 4,
      r.position - start,
    ], i * ROW_WORDS);
    lastRow.set(r.seq, i);
    maxContext = Math.max(maxContext, r.position + 1);
  });

  const sampling = stepSeqs.map((s, i) => ({ s, i })).filter(({ s }) => s.sample);
  const samples = new Uint32Array(Math.max(1, sampling.length) * SAMPLE_WORDS);
  const sampleRows = new Uint32Array(Math.max(1, sampling.length));
  sampling.forEach(({ s, i }, k) => {
    const row = lastRow.get(i);
    if (row === undefined) throw new RangeError(`Sequence ${i} samples but has no row in the step`);
    sampleRows[k] = row;
    packSample(samples, k, s.slot, s.sampling, s.sampleIndex, s.penalties);
  });
  const countResets = stepSeqs.flatMap((s) =>
    s.countsFrom === undefined ? [] : [{ slot: s.slot, tokens: s.countsFrom }]
  );
  return {
    numRows: stepRows.length,
    numSamples: sampling.length,
    maxContext,
    rows,
    seqs,
    table,
    samples,
    sampleRows,
    countResets,
  };
}

/** The block holding cache position `position`, and the position of its first token. */
function blockAt(
  blocks: readonly { offset: number; dtype: string; tokens: number }[],
  position: number,
): { block: { offset: number; dtype: string; tokens: number }; start: number } | null {
  let start = 0;
  for (const block of blocks) {
    if (position < start + block.tokens) return { block, start };
    start += block.tokens;
  }
  return null;
}
