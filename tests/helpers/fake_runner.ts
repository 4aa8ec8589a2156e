/**
 * A CPU stand-in for the GPU model runner. The next token of a sequence is a hash of the token
 * history it reads back from its own KV blocks (plus seed and sampleIndex when sampling), so the
 * outputs are batch-invariant exactly when the engine feeds the right tokens, positions, blocks
 * and seals. It checks its inputs as the GPU would rely on them and keeps a simulated KV store
 * keyed by (block offset, index), so preemption, truncation or sealing bugs change the outputs
 * or fail the step. Penalised sequences keep per-slot token counts as the GPU does (reset by
 * countsFrom, bumped by each sample) and take the argmax of hash-derived logits less the
 * penalties, so counts the engine fails to rebuild change the outputs. Also: a tiny vocabulary
 * with think markers and split multi-byte characters.
 * @module
 */
import { kvDtype } from "../../src/kv/dtype.ts";
import type { BlockEntry } from "../../src/kv/types.ts";
import type { Runner, StepInput, StepResult, StepSeq } from "../../src/runner/types.ts";

/** Text of each id; ids whose bytes are a fragment of a UTF-8 character are given as bytes. */
export const FAKE_VOCAB: readonly (string | number[])[] = [
  "<eos>", // 0
  "<think>", // 1
  "</think>", // 2
  " the",
  " a",
  " cat",
  " dog",
  "s",
  ".",
  "\n",
  " sat",
  " on",
  "ST",
  "OP",
  " mat",
  "!",
  [0xc3], // first byte of "é"
  [0xa9], // second byte of "é"
  [0xe2], // first byte of "→"
  [0x86, 0x92], // rest of "→"
  " think",
  " so",
];

/** Id of the end-of-sequence token. */
export const FAKE_EOS = 0;
/** Id of the think open marker. */
export const FAKE_OPEN = 1;
/** Id of the think close marker. */
export const FAKE_CLOSE = 2;
/** Ids the hash may produce (markers and EOS only come from a script or `eosEvery`). */
const FIRST_PLAIN = 3;

/** Ids of the text pieces, longest first. */
const PIECES = FAKE_VOCAB.flatMap((t, id) => typeof t === "string" ? [id] : [])
  .sort((a, b) => (FAKE_VOCAB[b] as string).length - (FAKE_VOCAB[a] as string).length);
const BYTES = FAKE_VOCAB.map((t) => typeof t === "string" ? new TextEncoder().encode(t) : t);

/** The fake vocabulary's tokenizer: bytes joined, invalid UTF-8 shown as U+FFFD. */
export const FAKE_TOKENIZER: {
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
} = {
  encode(text: string): number[] {
    const ids: number[] = [];
    for (let rest = text; rest.length > 0;) {
      // longest piece first, as BPE merges would give
      const id = PIECES.find((id) => rest.startsWith(FAKE_VOCAB[id] as string));
      if (id === undefined) {
        throw new RangeError(`The fake vocabulary cannot spell ${JSON.stringify(rest)}`);
      }
      ids.push(id);
      rest = rest.slice((FAKE_VOCAB[id] as string).length);
    }
    return ids;
  },
  decode(ids: readonly number[]): string {
    const bytes = ids.flatMap((id) => [...BYTES[id]]);
    return new TextDecoder().decode(new Uint8Array(bytes));
  },
};

/** How the fake model behaves. */
export interface FakeRunnerOptions {
  blockSize?: number;
  /** Delay before a step's tokens come back (exercises pipelining). */
  latencyMs?: number;
  /** A token forced at some output index, whatever the history (markers, EOS); null = hash. */
  script?: (sampleIndex: number) => number | null;
  /** Emit EOS when the hash is a multiple of this (0 = never). */
  eosEvery?: number;
  /** Demotions a step may carry (0 = the engine never demotes). */
  maxDemotionsPerStep?: number;
}

interface KvEntry {
  token: number;
  position: number;
}

/** A deterministic CPU Runner that validates every step. */
export class FakeRunner implements Runner {
  readonly blockSize: number;
  /** Messages of every invalid input seen (the step also rejects). */
  readonly errors: string[] = [];
  /** Rows of each step, in order. */
  readonly rowsPerStep: number[] = [];
  /** Steps that mixed prefill rows (explicit tokens) with decode rows (null). */
  numMixedSteps = 0;
  /** Count resets (countsFrom) received. */
  numCountResets = 0;
  /** Demotions run (seals whose source was already sealed). */
  numDemotions = 0;
  /** Demotions the engine may put in one step. */
  readonly maxDemotionsPerStep: number;
  readonly #opts: FakeRunnerOptions;
  readonly #kv = new Map<number, KvEntry[]>();
  readonly #slotToken = new Map<number, number>();
  /** Slot → generated-token counts, as the GPU's token_counts rows. */
  readonly #slotCounts = new Map<number, Map<number, number>>();
  /** Offset → the slot and step that last used it. */
  /** Offset → slot → the last step in which that slot's table held the block. */
  readonly #readers = new Map<number, Map<number, number>>();
  /** Offsets in more than one table of the current step. */
  readonly #sharedNow = new Set<number>();
  readonly #inflight = new Set<number>();
  #numSteps = 0;

  /** A fake model with `blockSize`-token blocks (default 4, to make blocks turn over often). */
  constructor(opts: FakeRunnerOptions = {}) {
    this.#opts = opts;
    this.blockSize = opts.blockSize ?? 4;
    this.maxDemotionsPerStep = opts.maxDemotionsPerStep ?? 0;
  }

  /** Block sizes of the real registry for a small layout, so quantized blocks are smaller. */
  blockBytes(dtype: string): number {
    return kvDtype(dtype).blockBytes({ numKvHeads: 1, blockSize: this.blockSize, headDim: 32 });
  }

  /** Runs the step at once (GPU queue order) and resolves after the latency. */
  step(input: StepInput): Promise<StepResult> {
    const id = ++this.#numSteps;
    let tokens: Int32Array;
    try {
      tokens = this.#run(id, input);
    } catch (error) {
      this.errors.push((error as Error).message);
      return Promise.reject(error);
    }
    this.#inflight.add(id);
    const done = (): StepResult => {
      this.#inflight.delete(id);
      return { tokens };
    };
    const ms = this.#opts.latencyMs ?? 0;
    return new Promise((resolve) => setTimeout(() => resolve(done()), ms));
  }

  /** Nothing to release. */
  destroy(): void {}

  #run(stepId: number, input: StepInput): Int32Array {
    this.rowsPerStep.push(input.rows.length);
    const hasNull = input.rows.some((r) => r.token === null);
    if (hasNull && input.rows.some((r) => r.token !== null)) this.numMixedSteps++;
    const ops = input.seals ?? [];
    const demotions = ops.filter((op) => op.srcDtype !== undefined && op.srcDtype !== "f16");
    if (demotions.length > this.maxDemotionsPerStep) {
      throw new Error(
        `Step ${stepId}: ${demotions.length} demotions, at most ${this.maxDemotionsPerStep}`,
      );
    }
    // as on the GPU: every demotion's source is read before any seal or write of the step
    const sources = demotions.map((op) => this.#demotionSource(stepId, op));
    this.#checkOwnership(stepId, input.seqs);
    for (const seal of ops) {
      if (!demotions.includes(seal)) this.#seal(seal.src, seal.dst, seal.dtype, input.seqs);
    }
    demotions.forEach((op, i) => {
      this.#checkWrite(stepId, op.dst, null, "a demotion");
      this.#kv.set(op.dst, sources[i]);
      this.numDemotions++;
    });
    for (const seq of input.seqs) {
      if (seq.countsFrom === undefined) continue;
      this.numCountResets++;
      const counts = new Map<number, number>();
      for (const t of seq.countsFrom) counts.set(t, (counts.get(t) ?? 0) + 1);
      this.#slotCounts.set(seq.slot, counts);
    }
    const out: number[] = [];
    input.seqs.forEach((seq, i) => {
      const rows = input.rows.filter((r) => r.seq === i);
      if (rows.length === 0) throw new Error(`Step ${stepId}: seq ${i} has no rows`);
      const first = rows[0].position;
      rows.forEach((r, k) => {
        if (r.position !== first + k) throw new Error(`Step ${stepId}: positions not contiguous`);
        if (r.token === null && k !== rows.length - 1) {
          throw new Error(`Step ${stepId}: a null token row is not the last of its sequence`);
        }
      });
      const last = rows[rows.length - 1].position;
      const total = seq.blocks.reduce((n, b) => n + b.tokens, 0);
      if (total !== last + 1) {
        throw new Error(`Step ${stepId}: table holds ${total} tokens, last row is ${last}`);
      }
      this.#history(seq.blocks, first); // everything before the chunk must be readable
      for (const r of rows) {
        const token = r.token ?? this.#slotToken.get(seq.slot);
        if (token === undefined) throw new Error(`Step ${stepId}: slot ${seq.slot} is empty`);
        const { block, index } = locate(seq.blocks, r.position);
        if (block.dtype !== "f16") {
          throw new Error(`Step ${stepId}: position ${r.position} goes to a ${block.dtype} block`);
        }
        this.#checkWrite(stepId, block.offset, seq.slot, `position ${r.position}`);
        const entries = this.#kv.get(block.offset) ?? [];
        entries[index] = { token, position: r.position };
        this.#kv.set(block.offset, entries);
      }
      if (!seq.sample) return;
      const next = this.#next(this.#history(seq.blocks, last + 1), seq);
      this.#slotToken.set(seq.slot, next);
      if (penalised(seq)) {
        const counts = this.#slotCounts.get(seq.slot) ?? new Map<number, number>();
        counts.set(next, (counts.get(next) ?? 0) + 1);
        this.#slotCounts.set(seq.slot, counts);
      }
      out.push(next);
    });
    return Int32Array.from(out);
  }

  /**
   * Records which slot read each block in this step. A block may be in several sequences' tables
   * (the prefix cache shares it) but is then never written; see #checkWrite.
   */
  #checkOwnership(stepId: number, seqs: readonly StepSeq[]): void {
    const seen = new Set<number>();
    this.#sharedNow.clear();
    for (const seq of seqs) {
      for (const b of seq.blocks) {
        if (seen.has(b.offset)) this.#sharedNow.add(b.offset);
        seen.add(b.offset);
        const readers = this.#readers.get(b.offset) ?? new Map<number, number>();
        readers.set(seq.slot, stepId);
        this.#readers.set(b.offset, readers);
      }
    }
  }

  /**
   * A block this step writes is in no other table of the step, and no unresolved step of another
   * sequence (`slot`; null: any) reads it: a freed block is never reused under an in-flight step.
   */
  #checkWrite(
    stepId: number,
    offset: number,
    slot: number | null,
    what: string,
    shareable = false,
  ): void {
    if (!shareable && this.#sharedNow.has(offset)) {
      throw new Error(`Step ${stepId}: ${what} writes block ${offset}, which is shared`);
    }
    for (const [reader, step] of this.#readers.get(offset) ?? []) {
      if ((slot === null || reader !== slot) && step !== stepId && this.#inflight.has(step)) {
        throw new Error(`Step ${stepId}: ${what} writes block ${offset} while step ${step} runs`);
      }
    }
  }

  /** The entries a demotion copies; its source must hold every token it claims. */
  #demotionSource(stepId: number, op: NonNullable<StepInput["seals"]>[number]): KvEntry[] {
    if (kvDtype(op.dtype).meanBits >= kvDtype(op.srcDtype!).meanBits) {
      throw new Error(`Step ${stepId}: demotion ${op.srcDtype} → ${op.dtype} adds bits`);
    }
    const entries = this.#kv.get(op.src) ?? [];
    const tokens = op.tokens ?? this.blockSize;
    if (entries.slice(0, tokens).filter((e) => e !== undefined).length < tokens) {
      throw new Error(`Step ${stepId}: demotion of block ${op.src} that holds no sealed data`);
    }
    return entries.slice(0, tokens);
  }

  #seal(src: number, dst: number, dtype: string, seqs: readonly StepSeq[]): void {
    if (dtype === "f16") throw new Error(`Seal ${src} → ${dst} to f16`);
    for (const seq of seqs) {
      const at = seq.blocks.findIndex((b) => b.offset === dst);
      if (at < 0) continue;
      const block = seq.blocks[at];
      const next = seq.blocks[at + 1];
      const closed = block.tokens === this.blockSize || (next && next.phase !== block.phase);
      if (block.dtype !== dtype || !closed) {
        throw new Error(`Seal into block ${dst} that is ${block.dtype}, not full or phase-closed`);
      }
      // seals run before the step's layers, so a block sealed now may already be shared
      this.#checkWrite(-1, dst, seq.slot, `the seal of ${src}`, true);
      const entries = this.#kv.get(src) ?? [];
      if (entries.filter((e) => e !== undefined).length < block.tokens) {
        throw new Error(`Seal of block ${src}: it holds fewer than ${block.tokens} tokens`);
      }
      this.#kv.set(dst, entries.slice(0, block.tokens));
      return;
    }
    throw new Error(`Seal into block ${dst} that no sequence of the step holds`);
  }

  /** Tokens at positions [0, end) read through the block table. */
  #history(blocks: readonly BlockEntry[], end: number): number[] {
    const out: number[] = [];
    for (let p = 0; p < end; p++) {
      const { block, index } = locate(blocks, p);
      const entry = this.#kv.get(block.offset)?.[index];
      if (!entry || entry.position !== p) throw new Error(`KV of position ${p} is missing`);
      out.push(entry.token);
    }
    return out;
  }

  #next(history: readonly number[], seq: StepSeq): number {
    const scripted = this.#opts.script?.(seq.sampleIndex) ?? null;
    if (scripted !== null) return scripted;
    let h = 2166136261;
    const mix = (x: number) => h = Math.imul(h ^ x, 16777619) >>> 0;
    for (const t of history) mix(t);
    if (seq.sampling.temperature > 0) {
      mix(seq.sampling.seed);
      mix(seq.sampleIndex);
    }
    const eosEvery = this.#opts.eosEvery ?? 0;
    if (eosEvery > 0 && h % eosEvery === 0) return FAKE_EOS;
    const pick = FIRST_PLAIN + (h >>> 3) % (FAKE_VOCAB.length - FIRST_PLAIN);
    if (!penalised(seq)) return pick;
    // logits: 1 for the hash's pick, below 0.5 elsewhere, so unpenalised argmax is the pick
    const counts = this.#slotCounts.get(seq.slot) ?? new Map<number, number>();
    let best = pick;
    let bestLogit = -Infinity;
    for (let t = FIRST_PLAIN; t < FAKE_VOCAB.length; t++) {
      const c = counts.get(t) ?? 0;
      const base = t === pick ? 1 : (Math.imul(h ^ t, 2654435761) >>> 0) / 2 ** 33;
      const logit = base - (seq.penalties!.frequency * c + (c > 0 ? seq.penalties!.presence : 0));
      if (logit > bestLogit) [best, bestLogit] = [t, logit];
    }
    return best;
  }
}

function penalised(seq: StepSeq): boolean {
  return seq.penalties !== undefined &&
    (seq.penalties.presence !== 0 || seq.penalties.frequency !== 0);
}

function locate(
  blocks: readonly BlockEntry[],
  position: number,
): { block: BlockEntry; index: number } {
  let start = 0;
  for (const block of blocks) {
    if (position < start + block.tokens) return { block, index: position - start };
    start += block.tokens;
  }
  throw new Error(`No block holds position ${position}`);
}

/** The fake model's CPU side (two layers, one KV head of 32), for createEngineWith. */
export function fakeModel(): {
  modelId: string;
  spec: {
    numLayers: number;
    numKvHeads: number;
    headDim: number;
    eosTokenIds: number[];
    maxPositionEmbeddings: number;
    vocabSize: number;
  };
  tokenizer: typeof FAKE_TOKENIZER;
  markers: { openId: number; closeId: number };
} {
  return {
    modelId: "fake",
    spec: {
      numLayers: 2,
      numKvHeads: 1,
      headDim: 32,
      eosTokenIds: [FAKE_EOS],
      maxPositionEmbeddings: 4096,
      vocabSize: FAKE_VOCAB.length,
    },
    tokenizer: FAKE_TOKENIZER,
    markers: { openId: FAKE_OPEN, closeId: FAKE_CLOSE },
  };
}

/** Every output of a stream, in order. */
export async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

/** Backend module entry (engine Worker tests): the fake model with a 1 ms fake runner. */
export function loadEngineParts(): Promise<ReturnType<typeof fakeModel> & { runner: FakeRunner }> {
  return Promise.resolve({ ...fakeModel(), runner: new FakeRunner({ latencyMs: 1 }) });
}

/** Backend module entry: the fake tokenizer and a one-line chat template. */
export function loadTextSide(): Promise<{
  tokenizer: typeof FAKE_TOKENIZER;
  renderChat: (messages: readonly { role: string; content: string }[]) => string;
}> {
  return Promise.resolve({
    tokenizer: FAKE_TOKENIZER,
    renderChat: (messages) => messages.map((m) => m.content).join("\n"),
  });
}

/** The fake runner as createEngine's `backend`, with its Worker entry. */
export const FAKE_ENGINE_BACKEND: {
  backend: { loadEngineParts: typeof loadEngineParts; loadTextSide: typeof loadTextSide };
  workerUrl: string;
} = {
  backend: { loadEngineParts, loadTextSide },
  workerUrl: new URL("./fake_worker.ts", import.meta.url).href,
};
