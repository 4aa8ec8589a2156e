/**
 * Many sequences through the served GPU runner at once, each block stored as a caller-chosen
 * dtype, with the engine's sealing rule: a block is closed when full or at a phase change, and
 * sealed by the served seal kernel only once `recentTokens` newer tokens stand behind it (the
 * full-precision recent window). Sequences are either generated greedily or teacher-forced on
 * given tokens; calibration measures flips and KL with the second, task accuracy with the first.
 * A caller choosing each block's dtype is what lets the random-block control run here.
 * @module
 */
import { type Gpu, openGpu } from "../gpu/device.ts";
import { kvDtype } from "../kv/dtype.ts";
import type { KvLayout } from "../kv/layout.ts";
import { PhaseTracker } from "../kv/phase.ts";
import type { BlockEntry, Phase } from "../kv/types.ts";
import type { LoadedCheckpoint, ModelSpec } from "../model/spec.ts";
import { ModelRunner } from "../runner/model_runner.ts";
import { GREEDY, type SealOp } from "../runner/types.ts";

/** One sequence to run: its prompt and, when teacher-forced, the generated tokens to feed. */
export interface BatchSeq {
  promptIds: readonly number[];
  /** Whether the rendered prompt leaves a think block open. */
  startsInThink: boolean;
  /** Teacher-forced: these generated tokens are fed (the runner's own picks are ignored). */
  forced?: readonly number[];
}

/** A block as the dtype chooser sees it. */
export interface BlockInfo {
  /** Index of the sequence in the batch. */
  seq: number;
  /** Index of the block in its sequence. */
  index: number;
  phase: Phase;
}

/** Options of one batch run. */
export interface RunOptions {
  /** The dtype a closed block is sealed to (`f16` keeps it). */
  dtypeOf: (block: BlockInfo) => string;
  /** Newer tokens a closed block waits for before it is sealed. */
  recentTokens: number;
  /** Tokens generated at most per sequence (teacher-forced: the forced tokens). */
  maxTokens: number;
  /** Keep every step's logits (teacher-forced runs). */
  logits?: boolean;
}

/** What one sequence produced. */
export interface SeqResult {
  /** Generated ids, the stop token included. */
  ids: number[];
  /** Phase of each generated id. */
  phases: Phase[];
  /** Row i: the logits that predicted generated token i (with `logits`). */
  logits?: Float32Array[];
  /** KV bytes (all layers) the sequence held at its end: sealed, window and open blocks. */
  kvBytes: number;
  /** Tokens those bytes hold. */
  kvTokens: number;
}

interface Block {
  phase: Phase;
  start: number;
  end: number;
  /** The dtype it was sealed to (null while in f16). */
  sealed: string | null;
  /** Out of the recent window: sealed, or kept f16 by its dtype. */
  final: boolean;
}

/** The served runner opened for `maxSeqs` sequences of up to `maxTokens` tokens each. */
export class BatchRunner {
  readonly spec: ModelSpec;
  readonly layout: KvLayout;
  readonly #gpu: Gpu;
  readonly #ownsGpu: boolean;
  readonly #runner: ModelRunner;
  readonly #maxSeqs: number;
  readonly #maxBlocks: number;
  readonly #markers: { openId: number | null; closeId: number | null };

  private constructor(
    gpu: Gpu,
    ownsGpu: boolean,
    runner: ModelRunner,
    spec: ModelSpec,
    opts: { maxSeqs: number; maxBlocks: number; openId: number | null; closeId: number | null },
  ) {
    this.#gpu = gpu;
    this.#ownsGpu = ownsGpu;
    this.#runner = runner;
    this.spec = spec;
    this.layout = {
      numKvHeads: spec.numKvHeads,
      blockSize: runner.blockSize,
      headDim: spec.headDim,
    };
    this.#maxSeqs = opts.maxSeqs;
    this.#maxBlocks = opts.maxBlocks;
    this.#markers = { openId: opts.openId, closeId: opts.closeId };
  }

  /** Opens `ckpt` with room for `maxSeqs` sequences of `maxTokens` tokens (prompt included). */
  static async open(ckpt: LoadedCheckpoint, opts: {
    maxSeqs: number;
    maxTokens: number;
    maxPromptRows: number;
    markers: { openId: number | null; closeId: number | null };
    blockSize?: number;
    gpu?: Gpu;
  }): Promise<BatchRunner> {
    const blockSize = opts.blockSize ?? 16;
    // a phase change closes a block early: prompt → think → answer leaves two partial blocks
    const maxBlocks = Math.ceil(opts.maxTokens / blockSize) + 2;
    const layout = { numKvHeads: ckpt.spec.numKvHeads, blockSize, headDim: ckpt.spec.headDim };
    const f16Bytes = kvDtype("f16").blockBytes(layout);
    const gpu = opts.gpu ?? await openGpu();
    const runner = await ModelRunner.create(gpu, ckpt, {
      blockSize,
      // each sequence: an f16 region and a sealed region of maxBlocks f16-sized slots
      kvPoolBytes: opts.maxSeqs * 2 * maxBlocks * f16Bytes,
      maxNumSeqs: opts.maxSeqs,
      maxRowsPerStep: Math.max(opts.maxSeqs, opts.maxPromptRows),
      maxBlocksPerSeq: maxBlocks,
    });
    return new BatchRunner(gpu, opts.gpu === undefined, runner, ckpt.spec, {
      maxSeqs: opts.maxSeqs,
      maxBlocks,
      ...opts.markers,
    });
  }

  /** Most sequences one run takes. */
  get maxSeqs(): number {
    return this.#maxSeqs;
  }

  /** Bytes of one block of `dtype` in one layer. */
  blockBytes(dtype: string): number {
    return kvDtype(dtype).blockBytes(this.layout);
  }

  /** Runs `seqs` (at most maxSeqs) to their stop token or `maxTokens`, greedily. */
  async run(seqs: readonly BatchSeq[], opts: RunOptions): Promise<SeqResult[]> {
    if (seqs.length > this.#maxSeqs) {
      throw new RangeError(`${seqs.length} sequences in a batch of at most ${this.#maxSeqs}`);
    }
    const { blockSize } = this.layout;
    const f16Bytes = this.blockBytes("f16");
    const stop = new Set(this.spec.eosTokenIds);
    const states = seqs.map((seq, i) => {
      const tracker = new PhaseTracker({
        ...this.#markers,
        startsInThink: seq.startsInThink,
        maxTokens: opts.maxTokens,
      });
      const blocks: Block[] = [];
      for (let p = 0; p < seq.promptIds.length; p++) place(blocks, "prompt", p, blockSize);
      return {
        seq,
        tracker,
        blocks,
        result: { ids: [], phases: [], kvBytes: 0, kvTokens: 0 } as SeqResult,
        done: false,
        region: i * 2 * this.#maxBlocks * f16Bytes,
      };
    });
    if (opts.logits) { for (const s of states) s.result.logits = []; }
    const table = (s: (typeof states)[number], numTokens: number): BlockEntry[] =>
      s.blocks.filter((b) => b.start < numTokens).map((b, index) => ({
        offset: this.#offset(s.region, index, b.sealed !== null),
        dtype: b.sealed ?? "f16",
        phase: b.phase,
        tokens: Math.min(b.end, numTokens) - b.start,
      }));

    // prefill: every prompt in one step, each sequence sampling its first token
    const rows = states.flatMap((s, i) =>
      s.seq.promptIds.map((token, position) => ({ seq: i, position, token }))
    );
    let result = await this.#runner.step({
      seqs: states.map((s, i) => ({
        slot: i,
        blocks: table(s, s.seq.promptIds.length),
        sample: true,
        sampling: GREEDY,
        sampleIndex: 0,
      })),
      rows,
      returnLogits: opts.logits,
    });
    for (let n = 0;; n++) {
      // the token each live sequence takes next: its own pick, or the forced one
      const live = states.filter((s) => !s.done);
      live.forEach((s, i) => {
        const forced = s.seq.forced;
        const id = forced ? forced[n] : result.tokens[i];
        if (opts.logits) {
          const vocab = result.logits!.length / live.length;
          s.result.logits!.push(result.logits!.slice(i * vocab, (i + 1) * vocab));
        }
        s.result.ids.push(id);
        s.result.phases.push(s.tracker.observe(id));
        const length = s.result.ids.length;
        if (stop.has(id) || length >= opts.maxTokens || (forced && length >= forced.length)) {
          s.done = true;
        }
      });
      const next = states.filter((s) => !s.done);
      if (next.length === 0) break;
      const seals: SealOp[] = [];
      const stepSeqs = next.map((s, i) => {
        const position = s.seq.promptIds.length + s.result.ids.length - 1;
        place(s.blocks, s.result.phases.at(-1)!, position, blockSize);
        seals.push(...this.#seal(s, position + 1, opts, states.indexOf(s)));
        return {
          slot: i,
          blocks: table(s, position + 1),
          sample: true,
          sampling: GREEDY,
          sampleIndex: s.result.ids.length,
        };
      });
      result = await this.#runner.step({
        seqs: stepSeqs,
        rows: next.map((s, i) => ({
          seq: i,
          position: s.seq.promptIds.length + s.result.ids.length - 1,
          token: s.result.ids.at(-1)!,
        })),
        seals,
        returnLogits: opts.logits,
      });
    }
    return states.map((s, seq) => {
      // what the engine holds when the sequence finishes: every token, the last one appended
      const held = s.seq.promptIds.length + s.result.ids.length;
      place(s.blocks, s.result.phases.at(-1)!, held - 1, blockSize);
      let bytes = 0;
      s.blocks.forEach((b, index) => {
        const leaves = index < s.blocks.length - 1 && held - b.end >= opts.recentTokens;
        const dtype = b.sealed ??
          (leaves && !b.final ? kvDtype(opts.dtypeOf({ seq, index, phase: b.phase })).name : "f16");
        bytes += this.blockBytes(dtype);
      });
      s.result.kvBytes = bytes * this.spec.numLayers;
      s.result.kvTokens = held;
      return s.result;
    });
  }

  /** Byte offset of block `index` of the sequence whose region starts at `region`. */
  #offset(region: number, index: number, sealed: boolean): number {
    if (index >= this.#maxBlocks) {
      throw new RangeError(`A sequence needs more than ${this.#maxBlocks} blocks`);
    }
    return region + (sealed ? this.#maxBlocks + index : index) * this.blockBytes("f16");
  }

  /** Seals the closed blocks of `s` that `total` tokens leave outside the recent window. */
  #seal(s: { blocks: Block[]; region: number }, total: number, opts: RunOptions, seq: number) {
    const seals: SealOp[] = [];
    // the last block is the open one
    for (let index = 0; index < s.blocks.length - 1; index++) {
      const b = s.blocks[index];
      if (b.final || total - b.end < opts.recentTokens) continue;
      b.final = true;
      const dtype = kvDtype(opts.dtypeOf({ seq, index, phase: b.phase })).name;
      if (dtype === "f16") continue;
      seals.push({
        src: this.#offset(s.region, index, false),
        dst: this.#offset(s.region, index, true),
        dtype,
        tokens: b.end - b.start,
      });
      b.sealed = dtype;
    }
    return seals;
  }

  /** Releases the runner (and the GPU when this runner opened it). */
  destroy(): void {
    this.#runner.destroy();
    if (this.#ownsGpu) this.#gpu.destroy();
  }
}

/** Puts token `position` of `phase` into the last block, or a new one when full or a phase change. */
function place(blocks: Block[], phase: Phase, position: number, blockSize: number): void {
  const last = blocks.at(-1);
  if (last && last.phase === phase && last.end - last.start < blockSize) {
    last.end = position + 1;
    return;
  }
  blocks.push({ phase, start: position, end: position + 1, sealed: null, final: false });
}
