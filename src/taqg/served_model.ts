/**
 * The model as the server runs it, opened for calibration: the GPU ModelRunner (the KV registry's
 * dtypes, the kv_decode attention path, the GPU sealer and the engine's KV rotation), plus pool
 * readback.
 * Calibration generates, captures and re-runs sequences through it, so every tensor it measures
 * comes from the served kernels.
 * @module
 */
import { type Gpu, openGpu } from "../gpu/device.ts";
import { kvDtype } from "../kv/dtype.ts";
import type { KvLayout } from "../kv/layout.ts";
import type { LoadedCheckpoint, ModelSpec } from "../model/spec.ts";
import { ModelRunner } from "../runner/model_runner.ts";

/** Tokens per KV block, as the server runs by default. */
export const CALIBRATION_BLOCK_SIZE = 16;

/** Options of `openServedModel`. */
export interface ServedModelOptions {
  /** Longest sequence (prompt and generated tokens) calibration will run. */
  maxSequenceTokens: number;
  /** Regions of sealed copies of a whole sequence that must fit in the pool beside the f16 one. */
  sealedRegions: number;
  /** Tokens per KV block; default CALIBRATION_BLOCK_SIZE. */
  blockSize?: number;
  /** An already open GPU (tests share one); default opens one and owns it. */
  gpu?: Gpu;
  /** Whether the runner rotates K and V (the engine's default for the head size when absent). */
  rotateKv?: boolean;
}

/** A served model and the geometry of its KV pools. */
export interface ServedModel {
  readonly gpu: Gpu;
  readonly runner: ModelRunner;
  readonly spec: ModelSpec;
  readonly layout: KvLayout;
  /** Most rows one step can hold: the longest sequence. */
  readonly maxRows: number;
  /** Most blocks one sequence can be split into (a phase change closes a block early). */
  readonly maxBlocks: number;
  /** Bytes of one region: `maxBlocks` f16-sized blocks (no quantized block is larger). */
  readonly regionBytes: number;
  /** Releases the runner (and the GPU when this model opened it). */
  destroy(): void;
}

/** Opens `ckpt` on the GPU with room for one sequence, its f16 blocks and its sealed copies. */
export async function openServedModel(
  ckpt: LoadedCheckpoint,
  opts: ServedModelOptions,
): Promise<ServedModel> {
  const spec = ckpt.spec;
  const blockSize = opts.blockSize ?? CALIBRATION_BLOCK_SIZE;
  const layout: KvLayout = { numKvHeads: spec.numKvHeads, blockSize, headDim: spec.headDim };
  // prompt → think → answer: two phase changes can each leave one partial block
  const maxBlocks = Math.ceil(opts.maxSequenceTokens / blockSize) + 2;
  const regionBytes = maxBlocks * kvDtype("f16").blockBytes(layout);
  const gpu = opts.gpu ?? await openGpu();
  const runner = await ModelRunner.create(gpu, ckpt, {
    blockSize,
    kvPoolBytes: regionBytes * (1 + opts.sealedRegions),
    maxNumSeqs: 1,
    maxRowsPerStep: opts.maxSequenceTokens,
    maxBlocksPerSeq: maxBlocks,
    rotateKv: opts.rotateKv,
  });
  return {
    gpu,
    runner,
    spec,
    layout,
    maxRows: opts.maxSequenceTokens,
    maxBlocks,
    regionBytes,
    destroy() {
      runner.destroy();
      if (opts.gpu === undefined) gpu.destroy();
    },
  };
}

/**
 * Byte offset of block `index` in pool region `region`: region 0 holds the open f16 blocks,
 * region r > 0 the blocks sealed to the r-th dtype being compared.
 */
export function blockOffset(model: ServedModel, region: number, index: number): number {
  if (region < 0 || index < 0 || index >= model.maxBlocks) {
    throw new RangeError(`No block ${index} in region ${region} (max ${model.maxBlocks} blocks)`);
  }
  return region * model.regionBytes + index * kvDtype("f16").blockBytes(model.layout);
}

/** Reads `bytes` at each of `offsets` from every layer's pool: [layer][offset] words. */
export async function readPoolBlocks(
  model: ServedModel,
  offsets: readonly number[],
  bytes: number,
): Promise<Uint32Array[][]> {
  const { device } = model.gpu;
  const pools = model.runner.pools;
  const staging = device.createBuffer({
    label: "calibration.pool_readback",
    size: Math.max(16, pools.length * offsets.length * bytes),
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const encoder = device.createCommandEncoder({ label: "calibration.pool_readback" });
  pools.forEach((pool, l) => {
    offsets.forEach((offset, i) => {
      encoder.copyBufferToBuffer(pool, offset, staging, (l * offsets.length + i) * bytes, bytes);
    });
  });
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const all = new Uint32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  const words = bytes / 4;
  return pools.map((_, l) =>
    offsets.map((_, i) =>
      all.slice((l * offsets.length + i) * words, (l * offsets.length + i + 1) * words)
    )
  );
}
