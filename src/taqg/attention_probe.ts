/**
 * The seed's hypothesis beside the measurement: on a few f16 traces, capture every layer's
 * post-RoPE q/k/v through the served runner and each block as the served seal kernel stores it
 * at each dtype, then report each phase's key redundancy ρ, the TAQG bound's choice from it, and
 * the attention KL (with the model's real queries) of each phase quantized alone.
 * @module
 */
import type { Phase } from "../kv/types.ts";
import { PHASES } from "../kv/types.ts";
import type { LoadedCheckpoint } from "../model/spec.ts";
import { DEFAULT_LADDER, lowerDtype, taqgSplit } from "./taqg_bound.ts";
import { type CapturedSequence, captureSequence } from "./capture.ts";
import { attentionDistortion } from "./distortion.ts";
import { measureRedundancy, summarizeRedundancy } from "./redundancy.ts";
import type { PhasePolicy } from "./search.ts";
import type { Trace } from "./sensitivity.ts";
import { openServedModel } from "./served_model.ts";

/** ρ, the bound's choice, and attention KL per (phase, dtype). */
export interface ProbeResult {
  traces: number;
  /** Mean pairwise cosine similarity of each phase's keys (mean over traces, layers, heads). */
  rho: Record<Phase, number>;
  /** The TAQG bound's policy: int4 everywhere, the more redundant generated phase lowered. */
  taqg: { policy: PhasePolicy; high: Phase; gap: number } | null;
  /** Mean attention KL with the phase's blocks at the dtype, the others f16. */
  attentionKl: Record<string, number>;
}

/** Probes `traces` (at most a handful: capture keeps every layer's q/k/v in memory). */
export async function probeAttention(
  ckpt: LoadedCheckpoint,
  traces: readonly Trace[],
  ladder: readonly string[],
  recentTokens: number,
  log: (line: string) => void,
): Promise<ProbeResult> {
  log(`capturing q/k/v of ${traces.length} traces for ρ and attention KL`);
  const longest = Math.max(...traces.map((t) => t.phases.length));
  const model = await openServedModel(ckpt, {
    maxSequenceTokens: longest,
    sealedRegions: ladder.length,
  });
  try {
    const captured: CapturedSequence[] = [];
    for (const t of traces) {
      captured.push(
        await captureSequence(model, {
          ids: [...t.promptIds, ...t.ids],
          promptLength: t.promptIds.length,
          phases: t.phases,
        }, ladder),
      );
    }
    const summary = summarizeRedundancy(captured.map((c) => measureRedundancy(c.trace)));
    const rho = {} as Record<Phase, number>;
    for (const p of PHASES) rho[p] = summary.byPhase[p].mean;
    const split = Number.isFinite(rho.think) && Number.isFinite(rho.answer) ? taqgSplit(rho) : null;
    const base = "int4";
    const taqg = split
      ? {
        policy: {
          prompt: base,
          think: base,
          answer: base,
          [split.high]: lowerDtype(base, split.gap, DEFAULT_LADDER),
        },
        high: split.high,
        gap: split.gap,
      }
      : null;
    const attentionKl: Record<string, number> = {};
    for (const phase of PHASES) {
      for (const dtype of ladder) {
        let sum = 0, count = 0;
        for (const c of captured) {
          const keys = c.trace.keys.map((k) => k.slice());
          const values = c.trace.values.map((v) => v.slice());
          const sealed = c.sealed.get(dtype)!;
          const rowFloats = c.trace.numKvHeads * c.trace.headDim;
          // a block leaves the f16 window once recentTokens newer tokens stand behind it
          const end = c.trace.tokens;
          for (const b of c.blocks) {
            if (b.phase !== phase || end - b.end < recentTokens) continue;
            for (let l = 0; l < c.trace.numLayers; l++) {
              keys[l].set(
                sealed.keys[l].subarray(b.start * rowFloats, b.end * rowFloats),
                b.start * rowFloats,
              );
              values[l].set(
                sealed.values[l].subarray(b.start * rowFloats, b.end * rowFloats),
                b.start * rowFloats,
              );
            }
          }
          const samples = attentionDistortion(c.trace, { keys, values }, c.blocks);
          for (const layer of samples.kl) {
            for (const v of layer) {
              sum += v;
              count++;
            }
          }
        }
        attentionKl[`${phase}/${dtype}`] = count === 0 ? NaN : sum / count;
      }
    }
    return { traces: traces.length, rho, taqg, attentionKl };
  } finally {
    model.destroy();
  }
}
