/**
 * Opening the WebGPU device: the adapter, the limits a model needs (asked up to the adapter's
 * maximum, since the defaults cap bindings at 128 MiB and buffers at 256 MiB), optional
 * shader-f16, and the kernel-shape profile for the adapter.
 * @module
 */
import { NoGpuAdapterError } from "./errors.ts";
import { KernelCache } from "./kernel_cache.ts";
import { type KernelProfile, profileFor } from "./profile.ts";

/** How to open the GPU. */
export interface OpenGpuOptions {
  powerPreference?: GPUPowerPreference;
  /** Caps the storage binding size below the device's (tests use it to force tensor splitting). */
  maxBindingBytes?: number;
  /** Forces a kernel-shape profile instead of the one chosen for the adapter. */
  profile?: KernelProfile;
}

/** An open device with its limits, kernel profile and kernel cache. */
export interface Gpu {
  readonly device: GPUDevice;
  readonly info: GPUAdapterInfo;
  readonly profile: KernelProfile;
  /** Largest storage binding in bytes that tensors are split to. */
  readonly maxBindingBytes: number;
  /** Largest buffer in bytes. */
  readonly maxBufferBytes: number;
  /** Whether the device enabled shader-f16 (kernels do not need it: f16 travels packed in u32). */
  readonly hasF16: boolean;
  /** Whether the device enabled `subgroups` (the matmul then sums lanes with subgroupAdd). */
  readonly hasSubgroups: boolean;
  readonly kernels: KernelCache;
  /** Destroys the device. */
  destroy(): void;
}

const WANTED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupsPerDimension",
] as const;

/** Opens the GPU; throws NoGpuAdapterError when WebGPU or an adapter is missing. */
export async function openGpu(opts: OpenGpuOptions = {}): Promise<Gpu> {
  // typed structurally: the engine Worker is checked against the worker lib, which has no Navigator
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) throw new NoGpuAdapterError("WebGPU (navigator.gpu) is not available");
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
  if (!adapter) throw new NoGpuAdapterError("No WebGPU adapter was found");
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const hasF16 = adapter.features.has("shader-f16");
  const hasSubgroups = adapter.features.has("subgroups" as GPUFeatureName);
  const requiredFeatures: GPUFeatureName[] = [];
  if (hasF16) requiredFeatures.push("shader-f16");
  if (hasSubgroups) requiredFeatures.push("subgroups" as GPUFeatureName);
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const limitBinding = device.limits.maxStorageBufferBindingSize;
  return {
    device,
    info: adapter.info,
    profile: opts.profile ?? profileFor(adapter.info),
    maxBindingBytes: Math.min(limitBinding, opts.maxBindingBytes ?? limitBinding),
    maxBufferBytes: device.limits.maxBufferSize,
    hasF16,
    hasSubgroups,
    kernels: new KernelCache(device),
    destroy: () => device.destroy(),
  };
}
