/**
 * The one calling convention of the runner's kernels: `op.encode(pass, bindings, size)`, the
 * buffers named in a per-op bindings type and bound in the kernel's order by the op alone.
 * @module
 */

/** A compiled kernel encoded into a compute pass with its buffers by name. */
export interface Op<B, N = number> {
  /** Encodes the op reading and writing `b`, over `size` (its rows, samples, layer or plan). */
  encode(pass: GPUComputePassEncoder, b: B, size: N): void;
}
