/**
 * GPU test harness: device per test file, buffer upload and readback, one-pass runs under an
 * error scope, and a closeness assertion that reports the worst element.
 * @module
 */
import { type Gpu, openGpu, type OpenGpuOptions } from "../../src/gpu/device.ts";
import { createStorage, STORAGE_USAGE } from "../../src/gpu/buffers.ts";
import { withErrorScope } from "../../src/gpu/errors.ts";
import { countSlot, createCounts, writeCount } from "../../src/gpu/dispatch.ts";
import type { Binding } from "../../src/gpu/kernel_cache.ts";

/** Opens the test device (tests fail, not skip, without an adapter: lavapipe is a CI requirement). */
export function testGpu(opts: OpenGpuOptions = {}): Promise<Gpu> {
  return openGpu(opts);
}

/** A storage buffer holding `data`. */
export function storage(gpu: Gpu, data: ArrayBufferView, label = "test"): GPUBuffer {
  return createStorage(gpu.device, label, data);
}

/** A zeroed storage buffer of `bytes` bytes. */
export function zeros(gpu: Gpu, bytes: number, label = "zeros"): GPUBuffer {
  return gpu.device.createBuffer({ label, size: Math.max(16, bytes), usage: STORAGE_USAGE });
}

/** A uniform slot holding the given u32 values. */
export function counts(gpu: Gpu, ...values: number[]): Binding {
  const buffer = createCounts(gpu.device, "counts", 1);
  writeCount(gpu.device, buffer, 0, ...values);
  return countSlot(buffer, 0);
}

/** Encodes one compute pass with `fn`, submits it, and fails on any validation error. */
export async function runPass(gpu: Gpu, fn: (pass: GPUComputePassEncoder) => void): Promise<void> {
  await withErrorScope(gpu.device, "running a test pass", () => {
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    fn(pass);
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
  });
}

/** Copies `bytes` bytes of `buffer` back to the host. */
export async function readBack(
  gpu: Pick<Gpu, "device">,
  buffer: GPUBuffer,
  bytes = buffer.size,
): Promise<ArrayBuffer> {
  const staging = gpu.device.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = gpu.device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, 0, staging, 0, bytes);
  gpu.device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = staging.getMappedRange().slice(0);
  staging.destroy();
  return out;
}

/** Reads `n` floats of a buffer. */
export async function readF32(gpu: Gpu, buffer: GPUBuffer, n: number): Promise<Float32Array> {
  return new Float32Array(await readBack(gpu, buffer, n * 4));
}

/** Reads `n` u32 of a buffer. */
export async function readU32(gpu: Gpu, buffer: GPUBuffer, n: number): Promise<Uint32Array> {
  return new Uint32Array(await readBack(gpu, buffer, n * 4));
}

/** Asserts |a - e| <= atol + rtol |e| elementwise; the message names the worst element. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol = 0,
  what = "values",
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: length ${actual.length} != ${expected.length}`);
  }
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
        `(atol ${atol}, rtol ${rtol})`,
    );
  }
}

/** Deterministic pseudo-random floats in [-scale, scale) (mulberry32). */
export function randomF32(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}
