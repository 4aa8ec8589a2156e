/**
 * A ring of MAP_READ staging buffers: each step copies its sampled tokens into one and maps it
 * without waiting, so several steps can be in flight behind Deno's ~10 ms mapAsync floor.
 * Reads resolve in submission order.
 * @module
 */

/** Staging buffers of a fixed size, reused once their mapping has been read. */
export class ReadbackRing {
  readonly #device: GPUDevice;
  readonly #bytes: number;
  readonly #free: GPUBuffer[] = [];
  readonly #all: GPUBuffer[] = [];
  #tail: Promise<unknown> = Promise.resolve();

  /** A ring of `bytes`-byte buffers, `depth` of them made up front (more are made on demand). */
  constructor(device: GPUDevice, bytes: number, depth: number) {
    this.#device = device;
    this.#bytes = bytes;
    for (let i = 0; i < depth; i++) this.#free.push(this.#create());
  }

  /** A free staging buffer to copy into before submit (a new one when all are in flight). */
  acquire(): GPUBuffer {
    return this.#free.pop() ?? this.#create();
  }

  /**
   * After the submit that fills `buffer`: maps it, and resolves with a copy of its first
   * `bytes` bytes once every earlier read has resolved. `before` (e.g. an error scope) must
   * settle first; its rejection rejects this read.
   */
  read(buffer: GPUBuffer, bytes: number, before?: Promise<unknown>): Promise<ArrayBuffer> {
    const mapped = buffer.mapAsync(GPUMapMode.READ, 0, Math.max(4, bytes));
    const result = Promise.all([this.#tail, mapped, before]).then(
      () => buffer.getMappedRange(0, Math.max(4, bytes)).slice(0, bytes),
    ).finally(() => {
      if (buffer.mapState === "mapped") buffer.unmap();
      this.#free.push(buffer);
    });
    this.#tail = result.catch(() => undefined);
    return result;
  }

  /** Destroys every staging buffer. */
  destroy(): void {
    for (const b of this.#all) b.destroy();
  }

  #create(): GPUBuffer {
    const b = this.#device.createBuffer({
      label: "readback",
      size: this.#bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.#all.push(b);
    return b;
  }
}
