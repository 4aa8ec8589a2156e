/**
 * Writes safetensors files the way Hugging Face's `safetensors` library does: an 8-byte
 * little-endian header length, a JSON header padded with spaces to 8 bytes, then the tensor
 * bytes in header order. The pieces are exported apart so tests can corrupt any one of them.
 * @module
 */
import type { HostTensor, TensorDtype } from "../../src/model/spec.ts";

/** One header entry, as the safetensors format spells it. */
export interface SafetensorsHeaderEntry {
  dtype: TensorDtype | string;
  shape: number[];
  data_offsets: [number, number];
}

/** A header object (tensor entries plus an optional `__metadata__` of strings). */
export type SafetensorsHeader = Record<string, SafetensorsHeaderEntry | Record<string, string>>;

/** A header and the data section it describes, before they are joined into one file. */
export interface SafetensorsParts {
  header: SafetensorsHeader;
  data: Uint8Array;
}

/** Lays tensors out back to back and builds the header that describes them. */
export function buildSafetensorsParts(
  tensors: readonly HostTensor[],
  metadata?: Record<string, string>,
): SafetensorsParts {
  const header: SafetensorsHeader = {};
  if (metadata) header.__metadata__ = { ...metadata };
  const size = tensors.reduce((n, t) => n + t.bytes.length, 0);
  const data = new Uint8Array(size);
  let offset = 0;
  for (const t of tensors) {
    data.set(t.bytes, offset);
    header[t.name] = {
      dtype: t.dtype,
      shape: [...t.shape],
      data_offsets: [offset, offset + t.bytes.length],
    };
    offset += t.bytes.length;
  }
  return { header, data };
}

/** Joins a header (object, or raw JSON text to test malformed headers) and data into file bytes. */
export function assembleSafetensors(
  header: SafetensorsHeader | string,
  data: Uint8Array,
): Uint8Array {
  let json = typeof header === "string" ? header : JSON.stringify(header);
  // The reference writer pads with spaces so the data section starts 8-byte aligned.
  while (new TextEncoder().encode(json).length % 8 !== 0) json += " ";
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.length);
  return out;
}

/** Encodes tensors as the bytes of one safetensors file. */
export function encodeSafetensors(
  tensors: readonly HostTensor[],
  metadata?: Record<string, string>,
): Uint8Array {
  const { header, data } = buildSafetensorsParts(tensors, metadata);
  return assembleSafetensors(header, data);
}

/** Writes tensors to one safetensors file at `path`. */
export async function writeSafetensors(
  path: string,
  tensors: readonly HostTensor[],
  metadata: Record<string, string> = { format: "pt" },
): Promise<void> {
  await Deno.writeFile(path, encodeSafetensors(tensors, metadata));
}

/**
 * Writes tensors into `numShards` files named as `save_pretrained` names them, plus the
 * `model.safetensors.index.json` that maps each tensor to its file. Returns the file names.
 */
export async function writeShardedSafetensors(
  dir: string,
  tensors: readonly HostTensor[],
  numShards: number,
): Promise<string[]> {
  if (!Number.isInteger(numShards) || numShards < 1 || numShards > tensors.length) {
    throw new RangeError(`numShards must be 1..${tensors.length}, got ${numShards}`);
  }
  const width = 5;
  const pad = (n: number) => String(n).padStart(width, "0");
  const files = Array.from(
    { length: numShards },
    (_, i) => `model-${pad(i + 1)}-of-${pad(numShards)}.safetensors`,
  );
  // Contiguous, non-empty runs of tensors per shard, as save_pretrained fills shards in order.
  const bound = (s: number) => Math.floor((s * tensors.length) / numShards);
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (let s = 0; s < numShards; s++) {
    const shard = tensors.slice(bound(s), bound(s + 1));
    for (const t of shard) {
      weightMap[t.name] = files[s];
      totalSize += t.bytes.length;
    }
    await writeSafetensors(`${dir}/${files[s]}`, shard);
  }
  const index = { metadata: { total_size: totalSize }, weight_map: weightMap };
  await Deno.writeTextFile(`${dir}/model.safetensors.index.json`, JSON.stringify(index, null, 2));
  return files;
}
