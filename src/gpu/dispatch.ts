/**
 * Dispatch helpers shared by the kernel wrappers.
 * @module
 */
import type { Binding } from "./kernel_cache.ts";

/** Workgroups along x before a dispatch wraps into y (kernels use the same GRID_X constant). */
export const GRID_X = 32768;

/** Bytes of a uniform slot (minUniformBufferOffsetAlignment is at most 256). */
export const UNIFORM_SLOT_BYTES = 256;

/** Dispatches `groups` linear workgroups as (x, y) with x <= GRID_X, times `z`. */
export function dispatchLinear(pass: GPUComputePassEncoder, groups: number, z = 1): void {
  if (groups === 0 || z === 0) return;
  const x = Math.min(groups, GRID_X);
  pass.dispatchWorkgroups(x, Math.ceil(groups / x), z);
}

/** Sets the pipeline and its bind group and dispatches (x, y, z) workgroups. */
export function dispatch(
  pass: GPUComputePassEncoder,
  pipeline: GPUComputePipeline,
  group: GPUBindGroup,
  x: number,
  y = 1,
  z = 1,
): void {
  if (x === 0 || y === 0 || z === 0) return;
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(x, y, z);
}

/** A uniform buffer of `slots` 256-byte slots, each starting with a u32 count. */
export function createCounts(device: GPUDevice, label: string, slots: number): GPUBuffer {
  return device.createBuffer({
    label,
    size: slots * UNIFORM_SLOT_BYTES,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
}

/** The binding of slot `i` of a counts buffer. */
export function countSlot(buffer: GPUBuffer, i: number): Binding {
  return { buffer, offset: i * UNIFORM_SLOT_BYTES, size: 16 };
}

/** Writes the u32 values of slot `i` (queue-ordered: it lands before the next submit runs). */
export function writeCount(
  device: GPUDevice,
  buffer: GPUBuffer,
  i: number,
  ...values: number[]
): void {
  device.queue.writeBuffer(buffer, i * UNIFORM_SLOT_BYTES, new Uint32Array(values));
}
