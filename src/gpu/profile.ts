/**
 * Kernel shapes per adapter. Software rasterisers (lavapipe, llvmpipe) run a workgroup as SIMD
 * chunks on a CPU core and pay a coroutine switch per barrier, so they want workgroups of 8
 * and barrier-free kernels; GPUs want wide workgroups with reductions.
 * @module
 */

/** The workgroup shapes every kernel takes as override constants. */
export interface KernelProfile {
  readonly name: "software" | "gpu";
  /** Threads per workgroup of element-wise kernels (rope, kv_write, swiglu, embedding). */
  readonly elementwise: number;
  /** Threads per workgroup of row reductions (rmsnorm, sampling). */
  readonly reduce: number;
  /**
   * Matmul shape: one thread per output ("rows"), or one workgroup per tile of outputs whose
   * lanes split K and reduce in workgroup memory ("tile"; with subgroup sums where the device
   * has the `subgroups` feature).
   */
  readonly matmul: "rows" | "tile";
  /** Threads per matmul workgroup. */
  readonly matmulWorkgroup: number;
  /** Lanes splitting K per output in the "tile" shape (a power of two dividing the workgroup). */
  readonly matmulLanes: number;
  /** Lanes per paged-attention workgroup (each owns head_dim / lanes channels of a row's heads). */
  readonly attention: number;
  /**
   * Loop iterations one SIMD group of a shader may run in all, or null where unbounded: Mesa's
   * llvmpipe stops every loop of an invocation after 65535 iterations in total
   * (LP_MAX_TGSI_LOOP_ITERATIONS), silently, so long loops must be split across invocations.
   */
  readonly maxLoopIterations: number | null;
}

/** Shapes for software adapters: workgroups of 8 match llvmpipe's 256-bit SIMD. */
export const SOFTWARE_PROFILE: KernelProfile = {
  name: "software",
  elementwise: 8,
  reduce: 8,
  matmul: "rows",
  matmulWorkgroup: 8,
  matmulLanes: 1,
  attention: 8,
  maxLoopIterations: 65535,
};

/** Shapes for hardware GPUs. */
export const GPU_PROFILE: KernelProfile = {
  name: "gpu",
  elementwise: 64,
  reduce: 256,
  matmul: "tile",
  matmulWorkgroup: 64,
  matmulLanes: 16,
  attention: 32,
  maxLoopIterations: null,
};

/** The profile for an adapter: software adapters get the barrier-free shapes. */
export function profileFor(info: GPUAdapterInfo): KernelProfile {
  const software = info.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader/i.test(
    `${info.description} ${info.device} ${info.architecture}`,
  );
  return software ? SOFTWARE_PROFILE : GPU_PROFILE;
}
