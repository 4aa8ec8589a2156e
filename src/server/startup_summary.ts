/**
 * The lines the server logs once the model is ready, as vLLM's startup log tells an operator
 * what runs: the model and its size, the adapter, the KV budget and what it holds at each
 * phase's dtype (and at f16), where each dtype came from, and the concurrency it allows.
 * @module
 */
import type { EngineApi } from "../engine/types.ts";
import type { ServeFlags } from "./flags.ts";

/** Human-readable lines describing a ready engine. */
export function startupSummary(
  engine: EngineApi,
  flags?: Pick<ServeFlags, "servedModelName">,
): string[] {
  const s = engine.describe?.();
  const served = flags?.servedModelName ?? engine.modelId;
  if (!s) return [`model ${served} loaded (max_model_len ${engine.maxModelLen})`];
  const lines = [`model ${s.modelId} loaded, served as '${served}'`];
  if (s.about) {
    lines.push(
      `architecture ${s.about.architecture}, ${count(s.about.numParameters)} parameters, ` +
        `${bytes(s.about.weightBytes)} of weights, on ${s.about.adapter}`,
    );
  }
  lines.push(
    `max_model_len ${s.maxModelLen}, block size ${s.blockSize} (from ${s.blockSource}), ` +
      `max_num_seqs ${s.maxNumSeqs}`,
    `KV cache budget ${bytes(s.kvBudgetBytes)}: ${
      s.f16TokensFit.toLocaleString("en")
    } tokens at f16`,
  );
  for (const [phase, p] of Object.entries(s.phases)) {
    lines.push(
      `  ${phase.padEnd(6)} ${p.dtype.padEnd(5)} (from ${p.source}): ` +
        `${p.tokensFit.toLocaleString("en")} tokens fit`,
    );
  }
  lines.push(
    `recent window: the newest ${s.recentTokens} tokens of each sequence stay f16 ` +
      `(from ${s.recentSource})`,
    `demotion under memory pressure: ${s.demotion} (from ${s.demotionSource})`,
    s.admissionHeadroom > 0
      ? `admission keeps ${s.admissionHeadroom} of each running request's KV growth to ` +
        `max_tokens free (--admission-headroom)`
      : "admission: while a request's first chunk fits; preempts when KV runs out",
    `maximum concurrency at max_model_len ${s.maxModelLen}: ${s.maxConcurrency} sequences fit` +
      ` the KV budget (window at f16, other blocks at the costliest phase dtype); ` +
      `${s.maxNumSeqs} run at once`,
  );
  return lines;
}

function count(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

function bytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}
