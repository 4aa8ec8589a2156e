/**
 * A pass as a table of stages. A stage is one dispatch declared in one place: how its op is
 * compiled, and which step buffers and size it is encoded with. The table's order is the
 * order of the dispatches.
 * @module
 */
import type { Op } from "./ops/op.ts";

/** An op that may own GPU memory, released with the pass. */
export type OwnedOp<B, N> = Op<B, N> & { destroy?(): void };

/** One dispatch of a pass over step context `C`, its op compiled from model context `M`. */
export interface StageSpec<M, C, B, N> {
  /** Compile an op for every layer (it holds that layer's weights) rather than one for all. */
  perLayer?: boolean;
  /** Compiles the op (of `layer` when perLayer); null when the model has no such dispatch. */
  create(m: M, layer: number): Promise<OwnedOp<B, N>> | OwnedOp<B, N> | null;
  /** The op's buffers in a step; null when this step or layer has none. */
  bind(s: C): B | null;
  /** What the op is encoded over: rows, samples, a layer or an attention plan. */
  size(s: C): N;
}

/** A compiled stage, encoding its op into steps. */
export interface Dispatch<C> {
  /** Encodes the op with the buffers and size its stage reads from `s`. */
  encode(pass: GPUComputePassEncoder, s: C): void;
  /** Releases what the op owns. */
  destroy(): void;
}

/** A stage whose op types are checked inside it, ready to compile. */
export interface Stage<M, C> {
  readonly perLayer: boolean;
  /** Compiles the stage's op for `layer`; null when the model has no such dispatch. */
  compile(m: M, layer: number): Promise<Dispatch<C> | null>;
}

/** The stage constructor of a table over model context `M` and step context `C`. */
export function stagesOf<M, C>(): <B, N = number>(spec: StageSpec<M, C, B, N>) => Stage<M, C> {
  return (spec) => ({
    perLayer: spec.perLayer ?? false,
    async compile(m, layer) {
      const op = await spec.create(m, layer);
      if (op === null) return null;
      return {
        encode(pass, s) {
          const b = spec.bind(s);
          if (b !== null) op.encode(pass, b, spec.size(s));
        },
        destroy: () => op.destroy?.(),
      };
    },
  });
}

/**
 * Compiles `table` for `layers` layers: each layer's dispatches in table order, a stage that is
 * not perLayer compiled once and shared.
 */
export async function compileStages<M, C>(
  table: Readonly<Record<string, Stage<M, C>>>,
  m: M,
  layers: number,
): Promise<Dispatch<C>[][]> {
  const stages = Object.values(table);
  const shared = await Promise.all(stages.map((s) => s.perLayer ? null : s.compile(m, 0)));
  return Promise.all(Array.from({ length: layers }, async (_, l) => {
    const all = await Promise.all(stages.map((s, i) => s.perLayer ? s.compile(m, l) : shared[i]));
    return all.filter((d): d is Dispatch<C> => d !== null);
  }));
}
