/**
 * Demotion on the GPU: a sealed block re-sealed into a smaller dtype. Each demotion's source is
 * decoded (kernels/kv_demote.wgsl, through kv_decode.wgsl) into an f16 scratch block past the end
 * of every layer's pool, then sealed from there by the ordinary seal kernel, so a demoted block
 * holds exactly what sealing its decoded values would give. Wraps a KvSealer: ordinary seals go
 * through unchanged, and all run in one call so that the seal kernel's order rules hold.
 * @module
 */
import type { SealOp } from "./types.ts";
import { kvDtype } from "./dtype.ts";
import { checkLayout, type KvLayout, kvSections } from "./layout.ts";
import type { KvSealer } from "./sealer.ts";

const KERNELS = new URL("../../kernels/", import.meta.url);
const WORKGROUP_SIZE = 64;
/** Bytes of one demotion's entry in the jobs array (struct Demote in kernels/kv_demote.wgsl). */
const SLOT_BYTES = 16;

/** Where the scratch blocks live in each layer's pool. */
export interface DemoterScratch {
  /** Byte offset of the first f16 scratch block (the end of the arena's part of the pool). */
  offset: number;
  /** Scratch blocks: the most demotions one step may carry. */
  blocks: number;
}

/** Bytes each layer's pool needs past the arena for `blocks` f16 scratch blocks. */
export function demoterScratchBytes(layout: KvLayout, blocks: number): number {
  return blocks * kvDtype("f16").blockBytes(layout);
}

/** Encodes seals and demotions (seals whose source is already quantized). */
export class KvDemoter {
  readonly #device: GPUDevice;
  readonly #sealer: KvSealer;
  readonly #layout: KvLayout;
  readonly #scratch: DemoterScratch;
  readonly #pipeline: GPUComputePipeline;
  readonly #slots: GPUBuffer;
  readonly #bindLayout: GPUBindGroupLayout;
  #bindGroups = new WeakMap<GPUBuffer, GPUBindGroup[]>();

  private constructor(
    device: GPUDevice,
    sealer: KvSealer,
    layout: KvLayout,
    scratch: DemoterScratch,
    pipeline: GPUComputePipeline,
    bindLayout: GPUBindGroupLayout,
  ) {
    this.#bindLayout = bindLayout;
    this.#device = device;
    this.#sealer = sealer;
    this.#layout = layout;
    this.#scratch = scratch;
    this.#pipeline = pipeline;
    this.#slots = device.createBuffer({
      label: "kv_demote.slots",
      size: Math.max(1, scratch.blocks) * SLOT_BYTES,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    });
  }

  /** Compiles the decode kernel for blocks of `layout`; `sealer` encodes the re-seals. */
  static async create(
    device: GPUDevice,
    sealer: KvSealer,
    layout: KvLayout,
    scratch: DemoterScratch,
  ): Promise<KvDemoter> {
    checkLayout(layout);
    if (scratch.offset % 16 !== 0) throw new RangeError("Scratch offset must be 16-byte aligned");
    const code = (await Promise.all(
      ["kv_decode.wgsl", "kv_seal.wgsl", "kv_demote.wgsl"].map(async (f) =>
        (await fetch(new URL(f, KERNELS))).text()
      ),
    )).join("\n");
    const module = device.createShaderModule({ label: "kv_demote", code });
    const bindLayout = device.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: "storage" } },
        { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: "read-only-storage" } },
      ],
    });
    const pipeline = await device.createComputePipelineAsync({
      label: "kv_demote.demote_decode",
      layout: device.createPipelineLayout({ bindGroupLayouts: [bindLayout] }),
      compute: {
        module,
        entryPoint: "demote_decode",
        constants: {
          NUM_KV_HEADS: layout.numKvHeads,
          BLOCK_SIZE: layout.blockSize,
          HEAD_DIM: layout.headDim,
          WORKGROUP_SIZE,
        },
      },
    });
    return new KvDemoter(device, sealer, { ...layout }, { ...scratch }, pipeline, bindLayout);
  }

  /** The most demotions one encode may carry. */
  get maxDemotions(): number {
    return this.#scratch.blocks;
  }

  /**
   * Encodes `ops` for every pool: first every demotion's source is decoded into scratch (before
   * any seal or KV write of the step can overwrite a source freed this step), then ordinary seals
   * in order, then the demotions' re-seals (their destinations may be sources freed by seals).
   * The parameter slots are rewritten by each call: submit a call's pass before the next call.
   */
  encode(pass: GPUComputePassEncoder, layerPools: readonly GPUBuffer[], ops: readonly SealOp[]) {
    const demotions = ops.filter((op) => op.srcDtype !== undefined && op.srcDtype !== "f16");
    const seals = ops.filter((op) => op.srcDtype === undefined || op.srcDtype === "f16");
    if (demotions.length > this.#scratch.blocks) {
      throw new RangeError(
        `${demotions.length} demotions in one step; the scratch holds ${this.#scratch.blocks}`,
      );
    }
    const f16Bytes = kvDtype("f16").blockBytes(this.#layout);
    const resealed = demotions.map((op, i) => {
      const to = kvDtype(op.dtype), from = kvDtype(op.srcDtype!);
      if (from.kind === "f16" || to.meanBits >= from.meanBits) {
        throw new RangeError(`A demotion goes to fewer bits: ${from.name} → ${to.name}`);
      }
      return { ...op, src: this.#scratch.offset + i * f16Bytes, srcDtype: undefined };
    });
    if (demotions.length > 0) {
      const data = new Uint32Array((demotions.length * SLOT_BYTES) / 4);
      demotions.forEach((op, i) => {
        if (op.src % 16 !== 0) throw new RangeError(`Demotion src ${op.src} is not aligned`);
        data.set(
          [op.src / 4, resealed[i].src / 4, kvDtype(op.srcDtype!).id],
          (i * SLOT_BYTES) / 4,
        );
      });
      this.#device.queue.writeBuffer(this.#slots, 0, data);
      const words = kvSections("f16", 16, this.#layout).vCodes * 2;
      pass.setPipeline(this.#pipeline);
      // one dispatch per pool decodes every demotion (row y of the grid is demotion y)
      for (const pool of layerPools) {
        pass.setBindGroup(0, this.#bindGroup(pool, demotions.length));
        pass.dispatchWorkgroups(Math.ceil(words / WORKGROUP_SIZE), demotions.length);
      }
    }
    this.#sealer.encode(pass, layerPools, [...seals, ...resealed]);
  }

  /** Releases the parameter buffer (the wrapped sealer is the caller's). */
  destroy(): void {
    this.#slots.destroy();
  }

  /** The bind group of `pool` whose jobs array holds `count` demotions (built once per pair). */
  #bindGroup(pool: GPUBuffer, count: number): GPUBindGroup {
    let groups = this.#bindGroups.get(pool);
    if (!groups) {
      groups = [];
      this.#bindGroups.set(pool, groups);
    }
    groups[count] ??= this.#device.createBindGroup({
      layout: this.#bindLayout,
      entries: [
        { binding: 0, resource: { buffer: pool } },
        { binding: 2, resource: { buffer: this.#slots, size: count * SLOT_BYTES } },
      ],
    });
    return groups[count];
  }
}
