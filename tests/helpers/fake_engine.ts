/**
 * A scripted engine for server tests: one token per character, a think phase then an answer,
 * configurable delays, a queue limit, abort support, and fake KV blocks it tracks so tests can
 * check that nothing leaks after cancellations.
 * @module
 */
import { QueueFullError } from "../../src/engine/errors.ts";
import type {
  BlockMapEntry,
  ChatMessage,
  EngineApi,
  EngineStats,
  GenerateOutput,
  GenerateRequest,
  GenerateUsage,
} from "../../src/engine/types.ts";
import type { KvPolicy } from "../../src/kv/policy.ts";
import type { Phase } from "../../src/kv/types.ts";

/** Options of the fake engine. */
export interface FakeEngineOptions {
  /** Reasoning text, one token per character. */
  think?: string;
  /** Answer text, one token per character. */
  answer?: string;
  /** Delay before each output, in ms (0 still yields to the event loop). */
  delayMs?: number;
  /** Requests that may be open at once; the next one throws QueueFullError. */
  maxActive?: number;
  /** Open requests past this many count as waiting in stats(). */
  maxRunning?: number;
  maxModelLen?: number;
  blockSize?: number;
  /** Throw an error after this many outputs (an engine failure mid-stream). */
  failAfter?: number;
  /** Refuse every request at submit with this error (as the engine does a bad request). */
  refuseWith?: () => Error;
}

const DTYPES: Record<string, string> = {
  f16: "f16",
  fp16: "f16",
  auto: "f16",
  fp8: "fp8",
  int8: "int8",
  int4: "int4",
  int3: "int3",
  int2: "int2",
};
const BITS: Record<string, number> = { f16: 16, fp8: 8, int8: 8, int4: 4, int3: 3, int2: 2 };
// a marker token: the real engine emits it with empty text
const CLOSE_MARKER_ID = 0xe001;

/** An EngineApi with a scripted output. */
export class FakeEngine implements EngineApi {
  readonly modelId = "fake-reasoner";
  readonly kvPolicy: KvPolicy = {
    prompt: { dtype: "f16", source: "default" },
    think: { dtype: "int4", source: "profile" },
    answer: { dtype: "int8", source: "flag" },
  };
  readonly maxModelLen: number;
  /** Requests the engine received, in order. */
  readonly requests: GenerateRequest[] = [];
  /** The kwargs of the last applyChatTemplate call. */
  lastTemplateKwargs: Record<string, unknown> | undefined;
  /** Requests open now. */
  active = 0;
  /** Fake KV blocks held now. */
  heldBlocks = 0;
  closed = false;
  readonly #options:
    & Required<Omit<FakeEngineOptions, "failAfter" | "refuseWith">>
    & Pick<FakeEngineOptions, "failAfter" | "refuseWith">;
  readonly #blocks = new Map<string, { phase: Phase; dtype: string; tokens: number }[]>();
  readonly #tokensByPhase: Record<Phase, number> = { prompt: 0, think: 0, answer: 0 };
  #nextId = 0;

  /** Creates the fake. */
  constructor(options: FakeEngineOptions = {}) {
    this.#options = {
      think: "Let me think.",
      answer: "42",
      delayMs: 0,
      maxActive: 64,
      maxRunning: 64,
      maxModelLen: 4096,
      blockSize: 4,
      ...options,
    };
    this.maxModelLen = this.#options.maxModelLen;
  }

  /** One id per character. */
  encode(text: string): number[] {
    return [...text].map((ch) => ch.codePointAt(0)!);
  }

  /** Characters of ids. */
  decode(ids: readonly number[]): string {
    return ids.filter((id) => id !== CLOSE_MARKER_ID).map((id) => String.fromCodePoint(id)).join(
      "",
    );
  }

  /** `<role>content` per message then `<assistant>`; throws, as strict templates do, on repeated roles. */
  applyChatTemplate(messages: readonly ChatMessage[], kwargs?: Record<string, unknown>): string {
    if (messages.some((m, i) => i > 0 && m.role !== "system" && m.role === messages[i - 1].role)) {
      throw new Error("Conversation roles must alternate user/assistant/user/assistant/...");
    }
    this.lastTemplateKwargs = kwargs;
    return messages.map((m) => `<${m.role}>${m.content}`).join("") + "<assistant>";
  }

  /** Canonical dtype names; RangeError listing the valid ones. */
  resolveKvDtype(name: string): string {
    const dtype = DTYPES[name.toLowerCase()];
    if (!dtype) {
      throw new RangeError(
        `Unknown KV cache dtype '${name}'; valid: ${Object.keys(BITS).join(", ")}`,
      );
    }
    return dtype;
  }

  /** Streams think characters, a close marker, then answer characters. */
  async *generate(
    request: GenerateRequest,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<GenerateOutput> {
    if (this.#options.refuseWith) throw this.#options.refuseWith();
    if (this.active >= this.#options.maxActive) throw new QueueFullError(this.#options.maxActive);
    const id = `req-${this.#nextId++}`;
    this.requests.push(request);
    this.active++;
    const blocks: { phase: Phase; dtype: string; tokens: number }[] = [];
    this.#blocks.set(id, blocks);
    try {
      this.#append(blocks, "prompt", "f16", request.promptIds.length);
      yield* this.#script(request, blocks, options.signal);
    } finally {
      this.heldBlocks -= blocks.length;
      this.#blocks.delete(id);
      this.active--;
    }
  }

  async *#script(
    request: GenerateRequest,
    blocks: { phase: Phase; dtype: string; tokens: number }[],
    signal: AbortSignal | undefined,
  ): AsyncGenerator<GenerateOutput> {
    const enableThinking = this.lastTemplateKwargs?.enable_thinking !== false;
    const thinkChars = enableThinking
      ? [...this.#options.think].slice(0, request.maxThinkTokens ?? Infinity)
      : [];
    const script: { id: number; text: string; phase: Phase }[] = [
      ...thinkChars.map((ch) => ({ id: ch.codePointAt(0)!, text: ch, phase: "think" as Phase })),
      ...(thinkChars.length ? [{ id: CLOSE_MARKER_ID, text: "", phase: "think" as Phase }] : []),
      ...[...this.#options.answer].map((ch) => ({
        id: ch.codePointAt(0)!,
        text: ch,
        phase: "answer" as Phase,
      })),
    ];
    const dtypes = {
      think: request.kvCacheDtypeThink ?? "f16",
      answer: request.kvCacheDtypeAnswer ?? "f16",
    };
    let completion = 0;
    let reasoning = 0;
    for (const [i, token] of script.entries()) {
      if (!await sleep(this.#options.delayMs, signal)) return;
      if (this.#options.failAfter !== undefined && i >= this.#options.failAfter) {
        throw new Error("fake engine failure");
      }
      completion++;
      if (token.phase === "think") reasoning++;
      this.#tokensByPhase[token.phase]++;
      this.#append(blocks, token.phase, dtypes[token.phase as "think" | "answer"], 1);
      const last = completion === request.maxTokens || i === script.length - 1;
      const output: GenerateOutput = { tokenIds: [token.id], text: token.text, phase: token.phase };
      if (last) {
        output.finishReason = completion === script.length ? "stop" : "length";
        output.usage = this.#usage(request, completion, reasoning, blocks);
      }
      yield output;
      if (last) return;
    }
  }

  #append(
    blocks: { phase: Phase; dtype: string; tokens: number }[],
    phase: Phase,
    dtype: string,
    n: number,
  ) {
    this.#tokensByPhase.prompt += phase === "prompt" ? n : 0;
    for (let left = n; left > 0;) {
      const open = blocks.at(-1);
      if (open && open.phase === phase && open.tokens < this.#options.blockSize) {
        const take = Math.min(left, this.#options.blockSize - open.tokens);
        open.tokens += take;
        left -= take;
      } else {
        blocks.push({ phase, dtype, tokens: 0 });
        this.heldBlocks++;
      }
    }
  }

  #usage(
    request: GenerateRequest,
    completion: number,
    reasoning: number,
    blocks: { phase: Phase; dtype: string; tokens: number }[],
  ): GenerateUsage {
    const phases = {} as GenerateUsage["kv"]["phases"];
    let bytes = 0;
    let tokens = 0;
    for (const phase of ["prompt", "think", "answer"] as Phase[]) {
      const mine = blocks.filter((b) => b.phase === phase);
      const dtypes: Record<string, number> = {};
      let phaseBytes = 0;
      for (const b of mine) {
        dtypes[b.dtype] = (dtypes[b.dtype] ?? 0) + 1;
        phaseBytes += this.#blockBytes(b.dtype);
      }
      const phaseTokens = mine.reduce((n, b) => n + b.tokens, 0);
      phases[phase] = { tokens: phaseTokens, blocks: mine.length, bytes: phaseBytes, dtypes };
      bytes += phaseBytes;
      tokens += phaseTokens;
    }
    return {
      promptTokens: request.promptIds.length,
      completionTokens: completion,
      reasoningTokens: reasoning,
      kv: { bytesPerToken: bytes / tokens, bitsPerElement: (bytes * 8) / (tokens * 64), phases },
    };
  }

  // one layer, 64 elements per token, K and V
  #blockBytes(dtype: string): number {
    return (this.#options.blockSize * 64 * 2 * BITS[dtype]) / 8;
  }

  /** Live counters. */
  stats(): EngineStats {
    const kvBytes: Record<string, Record<string, number>> = {};
    let used = 0;
    for (const blocks of this.#blocks.values()) {
      for (const b of blocks) {
        const byDtype = kvBytes[b.phase] ??= {};
        byDtype[b.dtype] = (byDtype[b.dtype] ?? 0) + this.#blockBytes(b.dtype);
        used += this.#blockBytes(b.dtype);
      }
    }
    const budget = 1 << 20;
    return {
      numRunning: Math.min(this.active, this.#options.maxRunning),
      numWaiting: Math.max(0, this.active - this.#options.maxRunning),
      kvUsage: used / budget,
      kvBudgetBytes: budget,
      kvBytes,
      tokensByPhase: { ...this.#tokensByPhase },
      numPreemptions: 0,
      kvTokenCapacity: { f16: budget / 1024 },
    };
  }

  /** Blocks of every open request. */
  blockMap(): BlockMapEntry[] {
    return [...this.#blocks].map(([requestId, blocks]) => ({
      requestId,
      blocks: blocks.map((b) => ({ ...b })),
    }));
  }

  /** Marks the engine closed. */
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/** Waits `ms` (no timer for 0, to keep fuzzing fast); false when `signal` aborted first. */
async function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (ms <= 0 || signal?.aborted) return !signal?.aborted;
  return await new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve(ok);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
