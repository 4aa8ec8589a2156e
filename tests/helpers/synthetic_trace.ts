/**
 * Synthetic traces with a known redundancy per phase: each key is √ρ·u + √(1−ρ)·n with u a
 * unit direction shared by the phase (per layer and head) and n isotropic noise of unit
 * expected norm, so the mean pairwise cosine of a phase tends to ρ as headDim grows. Used by the
 * tests and as a self-check of the calibration pipeline without a model.
 * @module
 */
import { type Phase, PHASES } from "../../src/kv/types.ts";
import { createRng, type Rng } from "../../src/taqg/rng.ts";
import type { KvTrace } from "../../src/taqg/trace.ts";

/** Shape and redundancy of a synthetic trace. */
export interface SyntheticOptions {
  numLayers: number;
  numKvHeads: number;
  numHeads: number;
  headDim: number;
  /** Tokens of each phase, laid out prompt, think, answer. */
  counts: Readonly<Record<Phase, number>>;
  /** ρ of each phase: one value for every layer, or one per layer. */
  rho: Readonly<Record<Phase, number | readonly number[]>>;
  seed: number;
  /** Norm of the keys; larger keys make attention peakier. Default 4. */
  keyScale?: number;
}

/** Builds a trace whose keys have the requested mean pairwise cosine per phase. */
export function syntheticTrace(opts: SyntheticOptions): KvTrace {
  const { numLayers, numKvHeads, numHeads, headDim, counts, seed } = opts;
  const rng = createRng(seed);
  const phases = PHASES.flatMap((p) => Array<Phase>(counts[p]).fill(p));
  const tokens = phases.length;
  const keyScale = opts.keyScale ?? 4;
  const keys: Float32Array[] = [];
  const values: Float32Array[] = [];
  const queries: Float32Array[] = [];
  for (let layer = 0; layer < numLayers; layer++) {
    const k = new Float32Array(tokens * numKvHeads * headDim);
    for (let h = 0; h < numKvHeads; h++) {
      const shared = Object.fromEntries(PHASES.map((p) => [p, unitVector(rng, headDim)]));
      for (let t = 0; t < tokens; t++) {
        const r = rhoAt(opts.rho[phases[t]], layer);
        const u = shared[phases[t]];
        const at = (t * numKvHeads + h) * headDim;
        for (let i = 0; i < headDim; i++) {
          k[at + i] = keyScale *
            (Math.sqrt(r) * u[i] + Math.sqrt((1 - r) / headDim) * rng.normal());
        }
      }
    }
    keys.push(k);
    values.push(gaussian(rng, tokens * numKvHeads * headDim, 1));
    queries.push(gaussian(rng, tokens * numHeads * headDim, 1));
  }
  return { numLayers, numKvHeads, numHeads, headDim, tokens, phases, keys, values, queries };
}

function rhoAt(rho: number | readonly number[], layer: number): number {
  const r = typeof rho === "number" ? rho : rho[layer];
  if (!(r >= 0 && r <= 1)) throw new RangeError(`Synthetic ρ must lie in [0, 1], got ${r}`);
  return r;
}

function unitVector(rng: Rng, dim: number): Float64Array {
  const v = Float64Array.from({ length: dim }, () => rng.normal());
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

function gaussian(rng: Rng, n: number, std: number): Float32Array {
  return Float32Array.from({ length: n }, () => std * rng.normal());
}
