/**
 * The GPU side of sealing: encodes kernels/kv_seal.wgsl for a step's seals into the step's
 * compute pass, once per layer pool.
 * @module
 */
import type { SealOp } from "./types.ts";
import { KV_FAMILY_CODES, kvDtype } from "./dtype.ts";
import { checkLayout, type KvLayout } from "./layout.ts";

const KERNELS = new URL("../../kernels/", import.meta.url);
const WORKGROUP_SIZE = 64;
/** Uniform slots are this far apart (the WebGPU minimum uniform offset alignment). */
const SLOT_BYTES = 256;
const INITIAL_SLOTS = 256;

/** Encodes seals of f16 blocks into blocks of quantized dtypes. */
export class KvSealer {
  readonly #device: GPUDevice;
  readonly #layout: KvLayout;
  readonly #bindLayout: GPUBindGroupLayout;
  readonly #params: GPUComputePipeline;
  readonly #codes: GPUComputePipeline;
  #slots: GPUBuffer;
  #numSlots = INITIAL_SLOTS;
  /** Next free slot of the ring: encodes that overlap in flight never share a slot. */
  #next = 0;
  #bindGroups = new WeakMap<GPUBuffer, GPUBindGroup>();

  private constructor(
    device: GPUDevice,
    layout: KvLayout,
    bindLayout: GPUBindGroupLayout,
    pipelines: [GPUComputePipeline, GPUComputePipeline],
  ) {
    this.#device = device;
    this.#layout = layout;
    this.#bindLayout = bindLayout;
    [this.#params, this.#codes] = pipelines;
    this.#slots = this.#createSlots();
  }

  /** Compiles the seal kernels for blocks of `layout`. */
  static async create(device: GPUDevice, layout: KvLayout): Promise<KvSealer> {
    checkLayout(layout);
    const [decode, seal] = await Promise.all(
      ["kv_decode.wgsl", "kv_seal.wgsl"].map(async (f) =>
        (await fetch(new URL(f, KERNELS))).text()
      ),
    );
    const module = device.createShaderModule({ label: "kv_seal", code: `${decode}\n${seal}` });
    const bindLayout = device.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: "storage" } },
        {
          binding: 1,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: "uniform", hasDynamicOffset: true, minBindingSize: 32 },
        },
      ],
    });
    const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [bindLayout] });
    const constants = {
      NUM_KV_HEADS: layout.numKvHeads,
      BLOCK_SIZE: layout.blockSize,
      HEAD_DIM: layout.headDim,
      WORKGROUP_SIZE,
    };
    const pipelines = await Promise.all(
      ["seal_params", "seal_codes"].map((entryPoint) =>
        device.createComputePipelineAsync({
          label: `kv_seal.${entryPoint}`,
          layout: pipelineLayout,
          compute: { module, entryPoint, constants },
        })
      ),
    ) as [GPUComputePipeline, GPUComputePipeline];
    return new KvSealer(device, { ...layout }, bindLayout, pipelines);
  }

  /**
   * Encodes `seals` for every pool in `layerPools`, in order (a seal may write where an earlier
   * one read). A seal carrying `tokens` (KvSealOp) quantizes only that many tokens.
   */
  encode(
    pass: GPUComputePassEncoder,
    layerPools: readonly GPUBuffer[],
    seals: readonly SealOp[],
  ): void {
    if (seals.length === 0) return;
    const slots = this.#writeSlots(seals);
    const work = seals.map((s) => {
      const dtype = kvDtype(s.dtype);
      const sec = dtype.sections(this.#layout);
      // the K and V code words, which end where the params begin
      return { groups: sec.paramGroups, codeWords: sec.kParams };
    });
    for (const pool of layerPools) {
      const bindGroup = this.#bindGroup(pool);
      work.forEach((w, i) => {
        pass.setBindGroup(0, bindGroup, [slots[i] * SLOT_BYTES]);
        pass.setPipeline(this.#params);
        pass.dispatchWorkgroups(Math.ceil(w.groups / WORKGROUP_SIZE));
        pass.setPipeline(this.#codes);
        pass.dispatchWorkgroups(Math.ceil(w.codeWords / WORKGROUP_SIZE));
      });
    }
  }

  /** Releases the parameter buffer. */
  destroy(): void {
    this.#slots.destroy();
  }

  #writeSlots(seals: readonly SealOp[]): number[] {
    if (seals.length > this.#numSlots) {
      // the old buffer may be bound in a pass not yet submitted: left to the garbage collector
      this.#numSlots = 2 ** Math.ceil(Math.log2(seals.length));
      this.#slots = this.#createSlots();
      this.#bindGroups = new WeakMap();
      this.#next = 0;
    }
    if (this.#next + seals.length > this.#numSlots) this.#next = 0;
    const first = this.#next;
    const data = new Uint32Array((seals.length * SLOT_BYTES) / 4);
    seals.forEach((s, i) => {
      const dtype = kvDtype(s.dtype);
      if (dtype.kind === "f16") {
        throw new RangeError("A seal into f16 is a no-op the table never emits");
      }
      for (const [name, v] of [["src", s.src], ["dst", s.dst]] as const) {
        if (v % 16 !== 0) throw new RangeError(`Seal ${name} offset ${v} is not 16-byte aligned`);
      }
      const tokens = (s as { tokens?: number }).tokens ?? this.#layout.blockSize;
      data.set(
        [s.src / 4, s.dst / 4, KV_FAMILY_CODES[dtype.kind], dtype.bits, tokens, dtype.vBits],
        (i * SLOT_BYTES) / 4,
      );
    });
    this.#device.queue.writeBuffer(this.#slots, first * SLOT_BYTES, data);
    this.#next = first + seals.length;
    return seals.map((_, i) => first + i);
  }

  #createSlots(): GPUBuffer {
    return this.#device.createBuffer({
      label: "kv_seal.slots",
      size: this.#numSlots * SLOT_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
  }

  #bindGroup(pool: GPUBuffer): GPUBindGroup {
    let group = this.#bindGroups.get(pool);
    if (!group) {
      group = this.#device.createBindGroup({
        layout: this.#bindLayout,
        entries: [
          { binding: 0, resource: { buffer: pool } },
          { binding: 1, resource: { buffer: this.#slots, size: 32 } },
        ],
      });
      this.#bindGroups.set(pool, group);
    }
    return group;
  }
}
