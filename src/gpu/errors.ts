/**
 * Named GPU errors, and the error-scope wrapper that turns WebGPU's silent validation and
 * out-of-memory failures into exceptions.
 * @module
 */

/** No WebGPU adapter is reachable from this process. */
export class NoGpuAdapterError extends Error {
  /** Builds the error with a message that names the fix. */
  constructor(reason: string) {
    super(
      `${reason}: install a GPU driver with Vulkan, Metal or D3D12 support, or on Linux ` +
        "`apt-get install mesa-vulkan-drivers` for the lavapipe software adapter; " +
        "DENO_WEBGPU_BACKEND=vulkan|gl|metal|dx12 picks the backend",
    );
    this.name = "NoGpuAdapterError";
  }
}

/** A WebGPU validation or out-of-memory error captured around a setup step. */
export class GpuSetupError extends Error {
  /** Builds the error for the step `what` from the captured GPU error. */
  constructor(what: string, kind: "validation" | "out-of-memory", message: string) {
    super(`GPU ${kind} error while ${what}: ${message}`);
    this.name = "GpuSetupError";
  }
}

/**
 * Runs `fn` inside validation and out-of-memory error scopes and throws a GpuSetupError when
 * either caught something (an over-limit bind group does not throw on its own; it poisons the pass).
 */
export async function withErrorScope<T>(
  device: GPUDevice,
  what: string,
  fn: () => T | Promise<T>,
): Promise<T> {
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await fn() };
  } catch (error) {
    outcome = { ok: false, error };
  }
  // Scopes are popped even when fn threw; a GPU error there is the likelier root cause.
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  if (validation) throw new GpuSetupError(what, "validation", validation.message);
  if (oom) throw new GpuSetupError(what, "out-of-memory", oom.message);
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}
