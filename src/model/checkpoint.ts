/**
 * Loads a Hugging Face checkpoint folder: config.json (plus generation_config.json's stop ids),
 * and the weights from model.safetensors or from the shards model.safetensors.index.json lists.
 * Every tensor the architecture needs is checked for presence and shape before returning.
 * @module
 */
import { z } from "zod";
import type { HostTensor, LoadedCheckpoint, ModelSpec } from "./spec.ts";
import { eosIds, GenerationConfigSchema, HfConfigSchema, readConfigFile } from "./config.ts";
import { expectedTensors, specFromConfig } from "./architectures.ts";
import { readSafetensors } from "./safetensors.ts";
import {
  CheckpointError,
  MissingTensorError,
  SafetensorsFormatError,
  TensorShapeError,
} from "./errors.ts";

/** Options of loadCheckpoint. */
export interface LoadCheckpointOptions {
  /** Called as weight bytes are read; totalBytes is the size of every weight file. */
  onProgress?: (loadedBytes: number, totalBytes: number) => void;
}

const ShardIndexSchema = z.object({
  weight_map: z.record(z.string(), z.string()),
});

/** Loads and validates the checkpoint in `dir`. */
export async function loadCheckpoint(
  dir: string,
  opts: LoadCheckpointOptions = {},
): Promise<LoadedCheckpoint> {
  const configPath = `${dir}/config.json`;
  if (!(await isFile(configPath))) {
    throw new CheckpointError(dir, "has no config.json; point at a Hugging Face model folder");
  }
  const config = await readConfigFile(HfConfigSchema, configPath);
  const spec = await withGenerationConfig(specFromConfig(config, configPath), dir);

  const shards = await weightFiles(dir);
  const sizes = await Promise.all(shards.map(async (s) => (await Deno.stat(s.path)).size));
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  let loadedBytes = 0;
  const tensors = new Map<string, HostTensor>();
  for (const shard of shards) {
    const contents = await readSafetensors(shard.path, (n) => {
      loadedBytes += n;
      opts.onProgress?.(loadedBytes, totalBytes);
    });
    for (const name of shard.names ?? []) {
      if (!contents.tensors.has(name)) {
        throw new MissingTensorError(
          shard.path,
          name,
          "model.safetensors.index.json places it in this shard; re-download the shard",
        );
      }
    }
    for (const [name, tensor] of contents.tensors) {
      if (tensors.has(name)) {
        throw new SafetensorsFormatError(shard.path, `tensor ${name} is also in another shard`);
      }
      tensors.set(name, tensor);
    }
  }
  checkTensors(spec, tensors, dir);
  return { dir, spec, tensors };
}

/** Checks that every tensor `spec` needs is present with the shape config.json implies. */
export function checkTensors(
  spec: ModelSpec,
  tensors: ReadonlyMap<string, HostTensor>,
  dir: string,
): void {
  for (const expected of expectedTensors(spec)) {
    const tensor = tensors.get(expected.name);
    if (!tensor) {
      const hint = expected.name === "lm_head.weight"
        ? "if the model shares its embedding, config.json should say tie_word_embeddings: true"
        : `a ${spec.arch} checkpoint needs it; check config.json's architectures and sizes`;
      throw new MissingTensorError(dir, expected.name, hint);
    }
    const same = tensor.shape.length === expected.shape.length &&
      tensor.shape.every((d, i) => d === expected.shape[i]);
    if (!same) {
      throw new TensorShapeError(
        dir,
        `tensor ${expected.name} has shape [${tensor.shape}] but config.json implies ` +
          `[${expected.shape}]; the config and weights are from different models`,
      );
    }
  }
}

interface WeightFile {
  path: string;
  /** Tensors the index places in this file (none for a single-file checkpoint). */
  names?: string[];
}

async function weightFiles(dir: string): Promise<WeightFile[]> {
  const indexPath = `${dir}/model.safetensors.index.json`;
  if (await isFile(indexPath)) {
    const index = await readConfigFile(ShardIndexSchema, indexPath);
    const byFile = new Map<string, string[]>();
    for (const [name, file] of Object.entries(index.weight_map)) {
      if (file.includes("/") || file.includes("\\")) {
        throw new SafetensorsFormatError(indexPath, `weight_map names ${file} outside the folder`);
      }
      byFile.set(file, [...(byFile.get(file) ?? []), name]);
    }
    return [...byFile].map(([file, names]) => ({ path: `${dir}/${file}`, names }));
  }
  if (await isFile(`${dir}/model.safetensors`)) return [{ path: `${dir}/model.safetensors` }];
  throw new CheckpointError(
    dir,
    "has neither model.safetensors nor model.safetensors.index.json; only safetensors weights " +
      "are read (convert pytorch_model.bin with transformers' save_pretrained)",
  );
}

// generation_config.json often lists more stop ids than config.json (chat-tuned models).
async function withGenerationConfig(spec: ModelSpec, dir: string): Promise<ModelSpec> {
  const path = `${dir}/generation_config.json`;
  if (!(await isFile(path))) return spec;
  const gen = await readConfigFile(GenerationConfigSchema, path);
  const eosTokenIds = [...new Set([...spec.eosTokenIds, ...eosIds(gen.eos_token_id)])];
  return { ...spec, eosTokenIds, bosTokenId: spec.bosTokenId ?? gen.bos_token_id ?? null };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
