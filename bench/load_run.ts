/**
 * One load point of the throughput bench: `concurrency` requests submitted at once to a running
 * engine, each generating exactly `maxTokens` tokens, timed per output on the caller's clock.
 * @module
 */
import type { EngineApi } from "../src/engine/types.ts";

/** What one load point measured. */
export interface LoadResult {
  concurrency: number;
  tokensPerSeq: number;
  /** Wall seconds from the first submit to the last token. */
  wallS: number;
  /** Decode tokens (after each sequence's first) per second, over the decode window. */
  decodeTokensPerS: number;
  /** Time to first token, p50 and p99 (ms). */
  ttftMs: { p50: number; p99: number };
  /** Gap between consecutive tokens of a sequence, p50 and p99 (ms). */
  itlMs: { p50: number; p99: number };
}

/** Nearest-rank percentile `q` (0..1) of `values`. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** A fixed prompt of `length` ids below `vocab`, different for each `i`. */
export function benchPrompt(i: number, length: number, vocab: number): number[] {
  return Array.from({ length }, (_, k) => 1 + (i * 7 + k * 13) % (vocab - 1));
}

/** Runs `concurrency` requests of `maxTokens` tokens at once and times them. */
export async function runLoad(
  engine: EngineApi,
  opts: { concurrency: number; maxTokens: number; promptLength: number; vocab: number },
): Promise<LoadResult> {
  const t0 = performance.now();
  const ttft: number[] = [];
  const itl: number[] = [];
  const firstAt: number[] = [];
  const counts = await Promise.all(
    Array.from({ length: opts.concurrency }, async (_, i) => {
      const request = {
        promptIds: benchPrompt(i, opts.promptLength, opts.vocab),
        maxTokens: opts.maxTokens,
        ignoreEos: true,
      };
      let last = -1;
      let n = 0;
      for await (const out of engine.generate(request)) {
        const k = out.tokenIds.length;
        if (k === 0) continue;
        const now = performance.now();
        if (last < 0) {
          ttft.push(now - t0);
          firstAt.push(now);
          // tokens that arrive together share the gap
          for (let j = 1; j < k; j++) itl.push(0);
        } else {
          for (let j = 0; j < k; j++) itl.push((now - last) / k);
        }
        last = now;
        n += k;
      }
      return n;
    }),
  );
  const end = performance.now();
  const decodeTokens = counts.reduce((a, n) => a + Math.max(0, n - 1), 0);
  // the decode window opens when every sequence has its first token
  const window = (end - Math.max(...firstAt)) / 1000;
  return {
    concurrency: opts.concurrency,
    tokensPerSeq: opts.maxTokens,
    wallS: (end - t0) / 1000,
    decodeTokensPerS: window > 0 ? decodeTokens / window : NaN,
    ttftMs: { p50: percentile(ttft, 0.5), p99: percentile(ttft, 0.99) },
    itlMs: { p50: percentile(itl, 0.5), p99: percentile(itl, 0.99) },
  };
}
