/**
 * Calibration's window into a step: after RoPE, each layer's q/k/v rows are copied (with
 * kernels/copy.wgsl, inside the step's compute pass) into one capture buffer that is read back
 * with the step, so calibration measures the tensors the served kernels computed.
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { createBuffer } from "../../gpu/buffers.ts";
import { dispatchLinear } from "../../gpu/dispatch.ts";
import type { Op } from "./op.ts";

/** The buffer a capture copies from. */
export interface QkvCaptureBindings {
  /** The step's qkv rows, after RoPE (and rotation). */
  qkv: GPUBuffer;
}

/** Storage bindings start at multiples of this (the WebGPU minimum offset alignment). */
const OFFSET_ALIGN = 256;

/** Copies per-layer qkv rows of one step into a readable buffer. */
export class QkvCapture implements Op<QkvCaptureBindings> {
  readonly #gpu: Gpu;
  readonly #numLayers: number;
  readonly #rowFloats: number;
  /** Bytes between two layers' regions: the largest step's rows, aligned for binding offsets. */
  readonly #regionBytes: number;
  readonly #buffer: GPUBuffer;
  #pipeline: GPUComputePipeline | null = null;
  #numRows = 0;

  /** A capture of up to `maxRows` rows of `rowFloats` floats in each of `numLayers` layers. */
  constructor(gpu: Gpu, numLayers: number, maxRows: number, rowFloats: number) {
    if (rowFloats % 4 !== 0) {
      throw new RangeError(`qkv rows of ${rowFloats} floats are not whole vec4 words`);
    }
    this.#gpu = gpu;
    this.#numLayers = numLayers;
    this.#rowFloats = rowFloats;
    this.#regionBytes = Math.ceil((maxRows * rowFloats * 4) / OFFSET_ALIGN) * OFFSET_ALIGN;
    this.#buffer = createBuffer(gpu.device, "qkv_capture", numLayers * this.#regionBytes);
  }

  /** Compiles the copy for a step of `numRows` rows (the copy length is a kernel constant). */
  async prepare(numRows: number): Promise<void> {
    this.#numRows = numRows;
    this.#pipeline = await this.#gpu.kernels.pipeline(["copy"], "main", {
      WG: this.#gpu.profile.elementwise,
      N: (numRows * this.#rowFloats) / 4,
    });
  }

  /** Encodes the copy of layer `layer`'s rows from `qkv` (call after RoPE). */
  encode(pass: GPUComputePassEncoder, b: QkvCaptureBindings, layer: number): void {
    if (this.#pipeline === null) throw new Error("QkvCapture.encode before prepare");
    const bytes = this.#numRows * this.#rowFloats * 4;
    const dst = { buffer: this.#buffer, offset: layer * this.#regionBytes, size: bytes };
    const group = this.#gpu.kernels.bindGroup(this.#pipeline, [
      { buffer: b.qkv, offset: 0, size: bytes },
      dst,
    ]);
    pass.setPipeline(this.#pipeline);
    pass.setBindGroup(0, group);
    dispatchLinear(pass, Math.ceil(bytes / 16 / this.#gpu.profile.elementwise));
  }

  /** Encodes the copy of the captured regions into a new mappable buffer. */
  stage(encoder: GPUCommandEncoder): GPUBuffer {
    const staging = this.#gpu.device.createBuffer({
      label: "qkv_capture.staging",
      size: this.#numLayers * this.#regionBytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    encoder.copyBufferToBuffer(this.#buffer, 0, staging, 0, staging.size);
    return staging;
  }

  /** Maps `staging` and returns (numLayers, numRows, rowFloats) floats; destroys `staging`. */
  async read(staging: GPUBuffer): Promise<Float32Array> {
    await staging.mapAsync(GPUMapMode.READ);
    const all = new Float32Array(staging.getMappedRange());
    const perLayer = this.#numRows * this.#rowFloats;
    const out = new Float32Array(this.#numLayers * perLayer);
    for (let l = 0; l < this.#numLayers; l++) {
      const from = (l * this.#regionBytes) / 4;
      out.set(all.subarray(from, from + perLayer), l * perLayer);
    }
    staging.destroy();
    return out;
  }

  /** Releases the capture buffer. */
  destroy(): void {
    this.#buffer.destroy();
  }
}
