/**
 * WGSL loading and the pipeline and bind-group caches. Kernel sources are data next to the code
 * (kernels/*.wgsl), fetched relative to this module so that file: and https: imports both work.
 * @module
 */

/** Override constants of one pipeline (booleans are passed as 0 or 1). */
export type Overrides = Readonly<Record<string, number>>;

/** A binding of a bind group: a whole buffer, or a window of one. */
export type Binding = GPUBuffer | { buffer: GPUBuffer; offset: number; size: number };

const KERNELS_DIR = new URL("../../kernels/", import.meta.url);

/** Caches kernel sources, compiled pipelines keyed by (files, entry, overrides), and bind groups. */
export class KernelCache {
  readonly #device: GPUDevice;
  readonly #sources = new Map<string, Promise<string>>();
  readonly #pipelines = new Map<string, Promise<GPUComputePipeline>>();
  readonly #bindGroups = new Map<string, GPUBindGroup>();
  readonly #ids = new WeakMap<object, number>();
  #nextId = 1;

  /** Builds an empty cache for `device`. */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** The text of kernels/<name>.wgsl. */
  source(name: string): Promise<string> {
    let text = this.#sources.get(name);
    if (!text) {
      text = fetchKernel(name);
      this.#sources.set(name, text);
    }
    return text;
  }

  /**
   * Registers WGSL generated on the host under `name`, usable in `pipeline`'s files like a
   * kernels/ file; the same name must always carry the same text.
   */
  define(name: string, text: string): void {
    this.#sources.set(name, Promise.resolve(text));
  }

  /**
   * The pipeline of `entryPoint` in the concatenation of `files` (library files first; WGSL
   * module-scope declarations are order-independent) specialised by `overrides`.
   */
  pipeline(
    files: readonly string[],
    entryPoint: string,
    overrides: Overrides,
  ): Promise<GPUComputePipeline> {
    const key = `${files.join("+")}#${entryPoint}#${JSON.stringify(sortedEntries(overrides))}`;
    let pipeline = this.#pipelines.get(key);
    if (!pipeline) {
      pipeline = this.#compile(files, entryPoint, overrides, key);
      this.#pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  /** A bind group of group 0 of `pipeline` binding `bindings` at 0, 1, 2…, built once. */
  bindGroup(pipeline: GPUComputePipeline, bindings: readonly Binding[]): GPUBindGroup {
    const parts = [this.#id(pipeline)];
    for (const b of bindings) {
      if (b instanceof GPUBuffer) parts.push(this.#id(b), 0, -1);
      else parts.push(this.#id(b.buffer), b.offset, b.size);
    }
    const key = parts.join(",");
    let group = this.#bindGroups.get(key);
    if (!group) {
      group = this.#device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: bindings.map((resource, binding) => ({ binding, resource })),
      });
      this.#bindGroups.set(key, group);
    }
    return group;
  }

  /** Forgets every bind group (call after destroying buffers they reference). */
  clearBindGroups(): void {
    this.#bindGroups.clear();
  }

  async #compile(
    files: readonly string[],
    entryPoint: string,
    overrides: Overrides,
    label: string,
  ): Promise<GPUComputePipeline> {
    const code = (await Promise.all(files.map((f) => this.source(f)))).join("\n");
    // Shader errors surface as a bare "module is invalid" on the pipeline; the scope has the text.
    this.#device.pushErrorScope("validation");
    const module = this.#device.createShaderModule({ label, code });
    const error = await this.#device.popErrorScope();
    if (error) throw new Error(`Kernel ${label} failed to compile: ${error.message}`);
    return await this.#device.createComputePipelineAsync({
      label,
      layout: "auto",
      compute: { module, entryPoint, constants: { ...overrides } },
    });
  }

  #id(o: object): number {
    let id = this.#ids.get(o);
    if (id === undefined) {
      id = this.#nextId++;
      this.#ids.set(o, id);
    }
    return id;
  }
}

async function fetchKernel(name: string): Promise<string> {
  const url = new URL(`${name}.wgsl`, KERNELS_DIR);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`Kernel ${name} not found at ${url.href}: HTTP ${res.status}`);
  return await res.text();
}

function sortedEntries(o: Overrides): [string, number][] {
  return Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
