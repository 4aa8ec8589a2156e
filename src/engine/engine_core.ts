/**
 * The step loop: schedule → build the step → runner.step, keeping up to `pipelineDepth` steps in
 * flight, and, as each step's tokens come back in order, track phases, check stops and stream
 * outputs. The same class runs in the engine Worker and in-process (tests, fake runner).
 *
 * Decode rows feed the token still on the GPU (null), so its phase is a guess (the tracker's
 * peek) until it is read back. When a token read back shows that KV already written or in flight
 * carries the wrong phase (a marker changed it) or the wrong token (the forced close marker), the
 * sequence is rewound: its in-flight results are voided, its KV cut back to the first wrong
 * position and the known tokens re-fed with their true phases, so no block mixes phases.
 *
 * Blocks freed while a step may still write them are held by the FencedKvArena until every step
 * submitted before the free has resolved, so no block is reused under an in-flight step.
 * @module
 */
import type { Phase } from "../kv/types.ts";
import type { Runner, SampleLogprobs, StepResult } from "../runner/types.ts";
import type { FencedKvArena } from "./fenced_arena.ts";
import { OutputProcessor } from "./output_processor.ts";
import { OutputStream } from "./output_stream.ts";
import type { Scheduler } from "./scheduler.ts";
import type { Sequence } from "./sequence.ts";
import type { SequenceFactory } from "./sequence_factory.ts";
import { blockMap, engineStats } from "./stats.ts";
import { buildStepInput } from "./step_input.ts";
import type {
  BlockMapEntry,
  EngineStats,
  FinishReason,
  GenerateOutput,
  GenerateRequest,
} from "./types.ts";
import { buildUsage, type KvShape } from "./usage.ts";

/** What the core needs about the model. */
export interface CoreModel extends KvShape {
  eosTokenIds: readonly number[];
  /** Think marker ids (null where the model has none). */
  openId: number | null;
  closeId: number | null;
  decode: (ids: readonly number[]) => string;
}

/** Everything an EngineCore is built from. */
export interface EngineCoreOptions {
  runner: Runner;
  arena: FencedKvArena;
  scheduler: Scheduler;
  factory: SequenceFactory;
  model: CoreModel;
  /** Steps submitted before the oldest one's tokens are read back (1 = no pipelining). */
  pipelineDepth: number;
}

interface ActiveRequest {
  seq: Sequence;
  processor: OutputProcessor;
  stream: OutputStream;
}

interface StepEntry {
  seq: Sequence;
  epoch: number;
  sample: boolean;
}

type Settled = { ok: true; result: StepResult } | { ok: false; error: unknown };

interface InflightStep {
  id: number;
  entries: StepEntry[];
  settled: Promise<Settled>;
}

/** Runs admitted sequences to completion on one runner. */
export class EngineCore {
  readonly arena: FencedKvArena;
  readonly scheduler: Scheduler;
  readonly #runner: Runner;
  readonly #factory: SequenceFactory;
  readonly #model: CoreModel;
  readonly #pipelineDepth: number;
  readonly #requests = new Map<string, ActiveRequest>();
  readonly #inflight: InflightStep[] = [];
  readonly #tokensByPhase: Record<string, number> = { prompt: 0, think: 0, answer: 0 };
  #numSteps = 0;
  /** Whether the step loop runs; cleared by the loop itself, in the tick it decides to stop. */
  #running = false;
  #loop: Promise<void> = Promise.resolve();

  /** A core over parts the caller built (see createEngineCore). */
  constructor(opts: EngineCoreOptions) {
    this.#runner = opts.runner;
    this.arena = opts.arena;
    this.scheduler = opts.scheduler;
    this.#factory = opts.factory;
    this.#model = opts.model;
    this.#pipelineDepth = Math.max(1, opts.pipelineDepth);
  }

  /**
   * Queues a request; its outputs arrive on the returned stream, which cancels the request when
   * its reader stops early. Throws RangeError, ContextLengthError, KvCapacityError,
   * UnknownKvDtypeError or QueueFullError, changing nothing.
   */
  add(request: GenerateRequest): { id: string; stream: OutputStream } {
    const seq = this.#factory.create(request);
    if (this.#requests.has(seq.id)) throw new RangeError(`Request id ${seq.id} is already running`);
    this.scheduler.add(seq);
    const stream = new OutputStream(() => this.abort(seq.id));
    const processor = new OutputProcessor({
      decode: this.#model.decode,
      promptIds: seq.promptIds,
      markerIds: [this.#model.openId, this.#model.closeId].filter((id) => id !== null),
      conditions: { ...request, eosTokenIds: this.#model.eosTokenIds },
    });
    this.#requests.set(seq.id, { seq, processor, stream });
    if (!this.#running) {
      this.#running = true;
      this.#loop = this.#run().catch((error) => this.#failAll(error));
    }
    return { id: seq.id, stream };
  }

  /** Cancels a request: its blocks go back as soon as no in-flight step can write them. */
  abort(id: string): void {
    const active = this.#requests.get(id);
    if (active) this.#finish(active, "abort", null);
  }

  /** Live counters. */
  stats(): EngineStats {
    return engineStats(this.scheduler, this.arena, this.#tokensByPhase, this.#runner.blockSize);
  }

  /** Each running request's blocks. */
  blockMap(): BlockMapEntry[] {
    return blockMap(this.scheduler.running, this.arena, this.scheduler.prefixCache);
  }

  /** Resolves once no request is left and no step is in flight. */
  async whenIdle(): Promise<void> {
    while (this.#running) await this.#loop;
  }

  /** Aborts every request, waits for the steps in flight, and releases the runner. */
  async close(): Promise<void> {
    for (const id of [...this.#requests.keys()]) this.abort(id);
    await this.whenIdle();
    this.#runner.destroy();
  }

  async #run(): Promise<void> {
    try {
      while (true) {
        if (this.#inflight.length < this.#pipelineDepth && this.#submit()) continue;
        if (this.#inflight.length > 0) {
          await this.#resolveOldest();
          // let aborts and new requests (timers, messages) in between steps
          await new Promise((resolve) => setTimeout(resolve, 0));
          continue;
        }
        if (!this.scheduler.hasUnfinished()) return;
        throw new Error("Engine stalled: sequences remain but none can be scheduled");
      }
    } finally {
      this.#running = false;
    }
  }

  /** Schedules and submits one step; false when there was nothing to do. */
  #submit(): boolean {
    const plan = this.scheduler.schedule();
    for (const seq of plan.failed) {
      const active = this.#requests.get(seq.id);
      if (active) this.#finish(active, "error", null);
    }
    // demotions changed block tables: they must run even in a step with no rows
    if (plan.chunks.length === 0 && plan.demotions.length === 0) return plan.failed.length > 0;
    const input = buildStepInput(plan.chunks, plan.demotions);
    const entries = plan.chunks.map((c) => ({ seq: c.seq, epoch: c.seq.epoch, sample: c.sample }));
    for (const { seq, start, numTokens, sample } of plan.chunks) {
      if (sample) seq.numPending++;
      const promptEnd = Math.min(start + numTokens, seq.numPromptTokens);
      if (promptEnd > start) this.#tokensByPhase.prompt += promptEnd - start;
    }
    const id = ++this.#numSteps;
    const settled = this.#runner.step(input).then(
      (result): Settled => ({ ok: true, result }),
      (error): Settled => ({ ok: false, error }),
    );
    this.arena.markSubmitted(id);
    this.#inflight.push({ id, entries, settled });
    return true;
  }

  async #resolveOldest(): Promise<void> {
    const step = this.#inflight.shift()!;
    const settled = await step.settled;
    this.arena.markResolved(step.id);
    let k = 0;
    for (const entry of step.entries) {
      const at = entry.sample ? k++ : -1;
      const token = settled.ok && at >= 0 ? settled.result.tokens[at] : null;
      const logprobs = settled.ok && at >= 0 ? settled.result.logprobs?.[at] : undefined;
      const active = this.#requests.get(entry.seq.id);
      if (!active || entry.seq.epoch !== entry.epoch) continue;
      // a failed step leaves its sequences' KV unknown: they cannot go on
      if (!settled.ok) this.#fail(active, settled.error);
      else if (token !== null) {
        entry.seq.numPending--;
        this.#observe(active, token, logprobs);
      }
    }
  }

  /** Ends every request with `error` (the loop itself broke: a bug or a lost device). */
  #failAll(error: unknown): void {
    for (const active of [...this.#requests.values()]) this.#fail(active, error);
  }

  /** Ends a request whose stream throws `error` (its reader sees why). */
  #fail(active: ActiveRequest, error: unknown): void {
    this.scheduler.finish(active.seq, "error");
    this.#requests.delete(active.seq.id);
    active.stream.fail(error);
  }

  /** Takes one token read back for `active`'s sequence, with its logprobs when computed. */
  #observe(active: ActiveRequest, sampled: number, logprobs?: SampleLogprobs): void {
    const { seq } = active;
    const position = seq.numKnownTokens;
    const forced = this.#mustCloseThink(seq) && sampled !== this.#model.closeId;
    const token = forced ? this.#model.closeId! : sampled;
    const phase = seq.tracker.observe(token);
    seq.appendOutput(token, phase);
    this.#tokensByPhase[phase]++;
    const outcome = active.processor.accept(token, phase, seq.outputIds.length);
    const wanted = seq.request.logprobs;
    if (wanted !== undefined) {
      // the forced close marker was not sampled: it has no logprob of its own
      outcome.output.logprobs = [
        forced || !logprobs
          ? null
          : { token, logprob: logprobs.logprob, top: logprobs.top.slice(0, wanted) },
      ];
    }
    if (outcome.finishReason !== null) {
      this.#finish(active, outcome.finishReason, outcome.output);
      return;
    }
    active.stream.push(outcome.output);
    const written = position < seq.numComputedTokens;
    if (written && (forced || !kvPhasesMatch(seq, position, phase))) {
      this.scheduler.rewind(seq, position);
    }
    // the GPU counted the sampled token, not the forced one
    if (forced) seq.countsStale = true;
  }

  /** The think budget is spent while the sequence is still thinking. */
  #mustCloseThink(seq: Sequence): boolean {
    const max = seq.request.maxThinkTokens;
    return max !== undefined && this.#model.closeId !== null &&
      seq.tracker.peek() === "think" && seq.numThinkTokens >= max;
  }

  #finish(active: ActiveRequest, reason: FinishReason, last: GenerateOutput | null): void {
    const { seq } = active;
    // tokens computed past the stop are dropped with their KV
    seq.kv.truncate(Math.min(seq.numComputedTokens, seq.numKnownTokens));
    const usage = buildUsage({
      promptTokens: seq.numPromptTokens,
      completionTokens: seq.outputIds.length,
      reasoningTokens: seq.numThinkTokens,
      phases: seq.kv.usage(),
    }, this.#model);
    this.scheduler.finish(seq, reason);
    this.#requests.delete(seq.id);
    const phase: Phase = seq.outputPhases.at(-1) ?? seq.tracker.peek();
    const output = last ?? { tokenIds: [], text: "", phase };
    active.stream.push({ ...output, finishReason: reason, usage });
  }
}

/** Whether the KV at `position` has `phase` and every later written entry the tracker's next. */
function kvPhasesMatch(seq: Sequence, position: number, phase: Phase): boolean {
  const next = seq.tracker.peek();
  let start = 0;
  for (const block of seq.kv.blocks) {
    const end = start + block.tokens;
    if (end > position) {
      if (start <= position && block.phase !== phase) return false;
      if (end > position + 1 && block.phase !== next) return false;
    }
    start = end;
  }
  return true;
}
