import { assert, assertEquals, assertGreater } from "@std/assert";
import { createEngine } from "../src/engine/engine.ts";
import {
  DEFAULT_MIN_KV_BYTES,
  defaultKvBudget,
  MAX_DEFAULT_KV_BYTES,
} from "../src/engine/kv_budget.ts";

const MODEL = new URL("../../shared/models/stories260k", import.meta.url).pathname;
const hasModel = await Deno.stat(`${MODEL}/model.safetensors`).then(() => true, () => false);

Deno.test("the default KV budget is half the weights, floored, and capped by the adapter's limits", () => {
  const binding = 2 ** 30;
  assertEquals(
    defaultKvBudget({ weightBytes: 1e6, numLayers: 4, maxBindingBytes: binding }),
    DEFAULT_MIN_KV_BYTES,
  );
  // DeepSeek-R1-Distill-Qwen-1.5B in f16: 3.55 GB of weights, 28 layers.
  assertEquals(
    defaultKvBudget({ weightBytes: 3.55e9, numLayers: 28, maxBindingBytes: binding }),
    1.775e9,
  );
  // lavapipe's 128 MiB bindings over 2 layers hold no more than 256 MiB.
  assertEquals(
    defaultKvBudget({ weightBytes: 3.55e9, numLayers: 2, maxBindingBytes: 2 ** 27 }),
    2 ** 28,
  );
  assertEquals(
    defaultKvBudget({ weightBytes: 1e11, numLayers: 80, maxBindingBytes: binding }),
    MAX_DEFAULT_KV_BYTES,
  );
});

Deno.test({
  name: "an engine without --kv-cache-memory takes the default budget and says how many tokens fit",
  ignore: !hasModel,
  async fn() {
    const engine = await createEngine({ model: MODEL, inProcess: true, maxNumSeqs: 2 });
    try {
      const s = engine.stats();
      // stories260k's weights are tiny: the 256 MiB floor (pools are aligned down per layer).
      assert(
        s.kvBudgetBytes <= DEFAULT_MIN_KV_BYTES && s.kvBudgetBytes > 0.99 * DEFAULT_MIN_KV_BYTES,
      );
      // 5 layers, 4 KV heads x 8 dims x 16 tokens x K and V x 2 bytes = 2 KiB per f16 block.
      const f16 = Math.floor(s.kvBudgetBytes / 5 / 2048) * 16;
      assert(
        Math.abs(s.kvTokenCapacity.f16 - f16) <= 0.01 * f16,
        `${s.kvTokenCapacity.f16} vs ${f16}`,
      );
      // int4 stores one f16 scale and minimum per head vector: 4 + 32/8 bits at head_dim 8
      assertEquals(s.kvTokenCapacity.int4, 2 * s.kvTokenCapacity.f16);
      assertGreater(s.kvTokenCapacity.int2, s.kvTokenCapacity.int4);
    } finally {
      await engine.close();
    }
    const small = await createEngine({ model: MODEL, inProcess: true, kvCacheMemory: 2 ** 20 });
    try {
      assert(small.stats().kvBudgetBytes <= 2 ** 20, "a given --kv-cache-memory wins");
    } finally {
      await small.close();
    }
  },
});
