import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { loadCheckpoint } from "../src/model/checkpoint.ts";
import { expectedTensors } from "../src/model/architectures.ts";
import {
  CheckpointError,
  ConfigFieldError,
  MissingTensorError,
  TensorShapeError,
  UnsupportedArchitectureError,
} from "../src/model/errors.ts";
import { toFloat32 } from "../src/model/tensor_convert.ts";
import type { TensorDtype } from "../src/model/spec.ts";
import { makeTinyCheckpoint, tinyCheckpointTensors } from "./helpers/tiny_checkpoint.ts";
import { writeSafetensors } from "./helpers/safetensors_writer.ts";
import { tinyTokenId } from "./helpers/tiny_tokenizer.ts";

const STORIES = new URL("../../shared/models/stories260k", import.meta.url).pathname;
const hasStories = await Deno.stat(`${STORIES}/model.safetensors`).then(() => true, () => false);

async function withDir(
  opts: Parameters<typeof makeTinyCheckpoint>[0],
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await makeTinyCheckpoint(opts);
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function editConfig(dir: string, edit: (c: Record<string, unknown>) => void) {
  const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  edit(config);
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
}

Deno.test("loadCheckpoint() reads each architecture's spec and every expected tensor", async () => {
  const cases = [
    { arch: "llama", qkvBias: false, qkNorm: false },
    { arch: "qwen2", qkvBias: true, qkNorm: false },
    { arch: "qwen3", qkvBias: false, qkNorm: true },
  ] as const;
  for (const c of cases) {
    await withDir({ arch: c.arch }, async (dir) => {
      const ckpt = await loadCheckpoint(dir);
      const s = ckpt.spec;
      assertEquals([s.arch, s.qkvBias, s.qkNorm], [c.arch, c.qkvBias, c.qkNorm]);
      assertEquals([s.hiddenSize, s.numLayers, s.numHeads, s.numKvHeads, s.headDim], [
        64,
        2,
        4,
        2,
        16,
      ]);
      assertEquals([s.bosTokenId, s.eosTokenIds], [
        tinyTokenId("<|begin|>"),
        [tinyTokenId("<|end|>")],
      ]);
      const names = expectedTensors(s).map((t) => t.name);
      assertEquals([...ckpt.tensors.keys()].sort(), names.sort());
      assertEquals(names.includes("model.layers.1.self_attn.k_proj.bias"), c.qkvBias);
      assertEquals(names.includes("model.layers.0.self_attn.q_norm.weight"), c.qkNorm);
    });
  }
});

Deno.test("loadCheckpoint() takes head_dim from config.json when it is not hidden / heads", async () => {
  await withDir({ arch: "qwen3", headDim: 32 }, async (dir) => {
    const ckpt = await loadCheckpoint(dir);
    assertEquals(ckpt.spec.headDim, 32);
    assertEquals(ckpt.tensors.get("model.layers.0.self_attn.q_proj.weight")!.shape, [128, 64]);
  });
});

for (const dtype of ["F16", "BF16"] as TensorDtype[]) {
  Deno.test(`loadCheckpoint() reads ${dtype} weights to the values written`, async () => {
    await withDir({ dtype }, async (dir) => {
      const ckpt = await loadCheckpoint(dir);
      for (const written of tinyCheckpointTensors({ dtype })) {
        const read = ckpt.tensors.get(written.name)!;
        assertEquals(read.dtype, dtype);
        assertEquals(toFloat32(read), toFloat32(written));
      }
    });
  });
}

Deno.test("loadCheckpoint() reads sharded checkpoints and reports progress to the total", async () => {
  const single = await makeTinyCheckpoint({ tieWordEmbeddings: true });
  try {
    await withDir({ numShards: 3, tieWordEmbeddings: true }, async (dir) => {
      assert(await Deno.stat(`${dir}/model-00003-of-00003.safetensors`));
      const progress: [number, number][] = [];
      const sharded = await loadCheckpoint(dir, { onProgress: (a, b) => progress.push([a, b]) });
      const reference = await loadCheckpoint(single);
      assertEquals(sharded.tensors.size, reference.tensors.size);
      for (const [name, t] of reference.tensors) {
        assertEquals(toFloat32(sharded.tensors.get(name)!), toFloat32(t));
      }
      const [loaded, total] = progress.at(-1)!;
      assertEquals(loaded, total);
      assert(progress.every(([a], i) => i === 0 || a > progress[i - 1][0]));
    });
  } finally {
    await Deno.remove(single, { recursive: true });
  }
});

Deno.test("loadCheckpoint() raises MissingTensorError naming the tensor", async () => {
  await withDir({}, async (dir) => {
    const tensors = tinyCheckpointTensors().filter((t) =>
      t.name !== "model.layers.1.mlp.up_proj.weight"
    );
    await writeSafetensors(`${dir}/model.safetensors`, tensors);
    const err = await assertRejects(() => loadCheckpoint(dir), MissingTensorError);
    assertEquals(err.tensor, "model.layers.1.mlp.up_proj.weight");
  });
});

Deno.test("loadCheckpoint() hints at tie_word_embeddings when lm_head is missing", async () => {
  await withDir({ tieWordEmbeddings: true }, async (dir) => {
    await editConfig(dir, (c) => c.tie_word_embeddings = false);
    const err = await assertRejects(() => loadCheckpoint(dir), MissingTensorError);
    assertStringIncludes(err.message, "tie_word_embeddings");
  });
});

Deno.test("loadCheckpoint() raises MissingTensorError when a shard lacks what the index says", async () => {
  await withDir({ numShards: 2 }, async (dir) => {
    const indexPath = `${dir}/model.safetensors.index.json`;
    const index = JSON.parse(await Deno.readTextFile(indexPath));
    index.weight_map["model.norm.weight"] = "model-00001-of-00002.safetensors";
    await Deno.writeTextFile(indexPath, JSON.stringify(index));
    const err = await assertRejects(() => loadCheckpoint(dir), MissingTensorError);
    assertStringIncludes(err.message, "model-00001-of-00002.safetensors");
  });
});

Deno.test("loadCheckpoint() raises TensorShapeError when config and weights disagree", async () => {
  await withDir({}, async (dir) => {
    await editConfig(dir, (c) => c.intermediate_size = 96);
    const err = await assertRejects(() => loadCheckpoint(dir), TensorShapeError);
    assertStringIncludes(err.message, "model.layers.0.mlp.gate_proj.weight");
    assertStringIncludes(err.message, "[96,64]");
  });
});

Deno.test("loadCheckpoint() raises UnsupportedArchitectureError listing the supported ones", async () => {
  await withDir({}, async (dir) => {
    await editConfig(dir, (c) => {
      c.architectures = ["MistralForCausalLM"];
      c.model_type = "mistral";
    });
    const err = await assertRejects(() => loadCheckpoint(dir), UnsupportedArchitectureError);
    assertStringIncludes(err.message, "MistralForCausalLM");
    assertStringIncludes(err.message, "Qwen3ForCausalLM");
  });
});

Deno.test("loadCheckpoint() raises ConfigFieldError naming the field at fault", async () => {
  const edits: [string, (c: Record<string, unknown>) => void][] = [
    ["hidden_size", (c) => c.hidden_size = "64"],
    ["num_key_value_heads", (c) => c.num_key_value_heads = 3],
    ["rope_scaling", (c) => c.rope_scaling = { rope_type: "llama3", factor: 8 }],
    ["eos_token_id", (c) => c.eos_token_id = ["</s>"]],
    ["use_sliding_window", (c) => c.use_sliding_window = true],
    ["hidden_act", (c) => c.hidden_act = "gelu"],
  ];
  for (const [field, edit] of edits) {
    await withDir({ withTokenizer: false }, async (dir) => {
      await editConfig(dir, edit);
      const err = await assertRejects(() => loadCheckpoint(dir), ConfigFieldError);
      assertEquals(err.field.split(".")[0], field);
      assertStringIncludes(err.message, "config.json");
    });
  }
});

Deno.test("loadCheckpoint() adds generation_config.json's stop ids", async () => {
  await withDir({ arch: "qwen2" }, async (dir) => {
    await Deno.writeTextFile(
      `${dir}/generation_config.json`,
      JSON.stringify({ eos_token_id: [tinyTokenId("<|end|>"), 7] }),
    );
    assertEquals((await loadCheckpoint(dir)).spec.eosTokenIds, [tinyTokenId("<|end|>"), 7]);
  });
});

Deno.test("loadCheckpoint() explains a folder without config or safetensors", async () => {
  await withDir({}, async (dir) => {
    await Deno.remove(`${dir}/model.safetensors`);
    const err = await assertRejects(() => loadCheckpoint(dir), CheckpointError);
    assertStringIncludes(err.message, "model.safetensors");
    await Deno.remove(`${dir}/config.json`);
    const noConfig = await assertRejects(() => loadCheckpoint(dir), CheckpointError);
    assertStringIncludes(noConfig.message, "has no config.json");
  });
});

Deno.test({
  name: "loadCheckpoint() loads stories260k",
  ignore: !hasStories,
  fn: async () => {
    const ckpt = await loadCheckpoint(STORIES);
    assertEquals(ckpt.spec.arch, "llama");
    assertEquals([ckpt.spec.numLayers, ckpt.spec.numKvHeads, ckpt.spec.headDim], [5, 4, 8]);
    assert(ckpt.spec.tieWordEmbeddings);
    assertEquals(ckpt.tensors.size, expectedTensors(ckpt.spec).length);
  },
});
