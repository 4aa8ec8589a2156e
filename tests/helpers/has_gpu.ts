/** Whether WebGPU has an adapter here: GPU tests are skipped where it has none. */
export const hasGpu: boolean = await (async () => {
  try {
    return (await navigator.gpu?.requestAdapter()) != null;
  } catch {
    return false;
  }
})();
