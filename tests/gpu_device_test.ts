import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { openGpu } from "../src/gpu/device.ts";
import { GpuSetupError, NoGpuAdapterError, withErrorScope } from "../src/gpu/errors.ts";
import { GPU_PROFILE, profileFor, SOFTWARE_PROFILE } from "../src/gpu/profile.ts";
import { testGpu } from "./helpers/gpu_harness.ts";

Deno.test("openGpu asks for the adapter's limits and picks the profile for the adapter", async () => {
  const gpu = await testGpu();
  try {
    // The spec defaults are 128 MiB and 256 MiB; the device gets the adapter's maximum.
    assert(gpu.maxBindingBytes >= 128 * 2 ** 20);
    assert(gpu.maxBufferBytes >= 256 * 2 ** 20);
    assertEquals(gpu.profile, profileFor(gpu.info));
  } finally {
    gpu.destroy();
  }
  const capped = await openGpu({ maxBindingBytes: 1000, profile: GPU_PROFILE });
  assertEquals(capped.maxBindingBytes, 1000);
  assertEquals(capped.profile, GPU_PROFILE);
  capped.destroy();
});

Deno.test("profileFor gives software adapters workgroups of 8 and GPUs wide ones", () => {
  const info = (isFallbackAdapter: boolean, description: string) =>
    ({
      isFallbackAdapter,
      description,
      device: "",
      architecture: "",
      vendor: "",
    }) as GPUAdapterInfo;
  assertEquals(profileFor(info(true, "")), SOFTWARE_PROFILE);
  assertEquals(profileFor(info(false, "llvmpipe (LLVM 15.0.6, 256 bits)")), SOFTWARE_PROFILE);
  assertEquals(profileFor(info(false, "NVIDIA GeForce RTX 4090")), GPU_PROFILE);
});

Deno.test("openGpu without navigator.gpu throws NoGpuAdapterError naming the fix", async () => {
  Object.defineProperty(navigator, "gpu", { value: undefined, configurable: true });
  try {
    const e = await assertRejects(() => openGpu(), NoGpuAdapterError);
    assertStringIncludes(e.message, "mesa-vulkan-drivers");
    assertStringIncludes(e.message, "DENO_WEBGPU_BACKEND");
  } finally {
    delete (navigator as unknown as Record<string, unknown>).gpu;
  }
  assert(navigator.gpu, "navigator.gpu is restored");
});

Deno.test("withErrorScope turns an invalid bind group, which WebGPU does not throw on, into a GpuSetupError", async () => {
  const gpu = await testGpu();
  try {
    const e = await assertRejects(
      () =>
        withErrorScope(gpu.device, "binding a pool", () => {
          const layout = gpu.device.createBindGroupLayout({
            entries: [{
              binding: 0,
              visibility: GPUShaderStage.COMPUTE,
              buffer: { type: "storage" },
            }],
          });
          const buffer = gpu.device.createBuffer({ size: 256, usage: GPUBufferUsage.UNIFORM });
          gpu.device.createBindGroup({ layout, entries: [{ binding: 0, resource: buffer }] });
        }),
      GpuSetupError,
    );
    assertStringIncludes(e.message, "binding a pool");
  } finally {
    gpu.destroy();
  }
});
