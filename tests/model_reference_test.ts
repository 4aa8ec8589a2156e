import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { applyRope, ReferenceModel } from "./reference/forward.ts";
import { loadCheckpoint } from "../src/model/checkpoint.ts";
import { expectedTensors } from "../src/model/architectures.ts";
import { loadTokenizer } from "../src/model/tokenizer.ts";
import { fromFloat32, numElements, roundF16, toFloat32 } from "../src/model/tensor_convert.ts";
import type { HostTensor, LoadedCheckpoint, ModelSpec } from "../src/model/spec.ts";
import { makeTinyCheckpoint } from "./helpers/tiny_checkpoint.ts";

const STORIES = new URL("../../shared/models/stories260k", import.meta.url).pathname;
const hasStories = await Deno.stat(`${STORIES}/model.safetensors`).then(() => true, () => false);

// One layer, hidden 4, two query heads sharing one kv head of dim 2.
const HAND_SPEC: ModelSpec = {
  arch: "llama",
  hiddenSize: 4,
  intermediateSize: 2,
  numLayers: 1,
  numHeads: 2,
  numKvHeads: 1,
  headDim: 2,
  vocabSize: 3,
  maxPositionEmbeddings: 16,
  rmsNormEps: 1e-12,
  ropeTheta: 10000,
  tieWordEmbeddings: false,
  qkvBias: false,
  qkNorm: false,
  bosTokenId: null,
  eosTokenIds: [],
};

// Tensors the test does not give are ones for norms and zeros otherwise.
function handCheckpoint(spec: ModelSpec, values: Record<string, number[]>): LoadedCheckpoint {
  const tensors = new Map<string, HostTensor>();
  for (const { name, shape } of expectedTensors(spec)) {
    const n = numElements(shape);
    const v = values[name] ?? new Array(n).fill(name.endsWith("norm.weight") ? 1 : 0);
    tensors.set(name, fromFloat32(name, shape, new Float32Array(v), "F32"));
  }
  return { dir: "hand", spec, tensors };
}

async function tinyCheckpoint(opts: Parameters<typeof makeTinyCheckpoint>[0]) {
  const dir = await makeTinyCheckpoint({ ...opts, withTokenizer: false });
  try {
    return await loadCheckpoint(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function rmsNormed(x: number[]): number[] {
  const rms = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
  return x.map((v) => v / rms);
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5) {
  assertEquals(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) assertAlmostEquals(actual[i], expected[i], tol);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

Deno.test("applyRope() pairs dim i with i + d/2 and turns pair i by position * theta^(-2i/d)", () => {
  const x = new Float32Array([1, 0, 0, 0, 0, 1, 0, 0]); // two heads of dim 4
  applyRope(x, 4, 3, 10000);
  // Head 0, pair (0, 2): angle 3. Head 1, pair (1, 3): angle 3 / 100.
  assertClose(x, [Math.cos(3), 0, Math.sin(3), 0, 0, Math.cos(0.03), 0, Math.sin(0.03)]);
});

Deno.test("ReferenceModel.forward() matches a hand-computed model: uniform causal attention", () => {
  // q = k = 0 makes attention uniform over positions 0..t; v reads dims 0-1 of the normed input;
  // o_proj writes head 0's output to dims 2-3; the MLP is zero; lm_head reads dims 0, 1, 2 + 3.
  const vBias = [1, -1];
  const values = {
    "model.embed_tokens.weight": [1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 3],
    "model.layers.0.self_attn.v_proj.weight": [1, 0, 0, 0, 0, 1, 0, 0],
    "model.layers.0.self_attn.o_proj.weight": [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0],
    "lm_head.weight": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1],
  };
  for (const arch of ["llama", "qwen2"] as const) {
    // qwen2 adds a v bias (k bias is irrelevant with q = 0).
    const spec = { ...HAND_SPEC, arch, qkvBias: arch === "qwen2" };
    const extra: Record<string, number[]> = arch === "qwen2"
      ? {
        "model.layers.0.self_attn.v_proj.bias": vBias,
        "model.layers.0.self_attn.k_proj.bias": [5, 5],
      }
      : {};
    const model = ReferenceModel.fromCheckpoint(handCheckpoint(spec, { ...values, ...extra }));
    const embed = [[1, 0, 0, 0], [0, 2, 0, 0], [0, 0, 0, 3]];
    const vs: number[][] = [];
    [0, 1, 2].forEach((token, t) => {
      const n = rmsNormed(embed[token]);
      vs.push([n[0], n[1]].map((v, i) => v + (arch === "qwen2" ? vBias[i] : 0)));
      const a = [0, 1].map((i) => vs.reduce((s, v) => s + v[i], 0) / vs.length);
      const x = rmsNormed([embed[token][0], embed[token][1], a[0], embed[token][3] + a[1]]);
      assertClose(model.forward(token, t), [x[0], x[1], x[2] + x[3]]);
    });
  }
});

Deno.test("ReferenceModel.forward() matches a hand-computed model: RoPE and softmax scale", () => {
  // hidden 2, one head of dim 2: q = alpha * normed x, k = v = normed x, o_proj = lm_head = I.
  const alpha = 0.7;
  const spec: ModelSpec = {
    ...HAND_SPEC,
    hiddenSize: 2,
    intermediateSize: 1,
    numHeads: 1,
    numKvHeads: 1,
    vocabSize: 2,
    ropeTheta: 5,
  };
  const eye = [1, 0, 0, 1];
  const model = ReferenceModel.fromCheckpoint(handCheckpoint(spec, {
    "model.embed_tokens.weight": eye,
    "model.layers.0.self_attn.q_proj.weight": eye.map((v) => v * alpha),
    "model.layers.0.self_attn.k_proj.weight": eye,
    "model.layers.0.self_attn.v_proj.weight": eye,
    "model.layers.0.self_attn.o_proj.weight": eye,
    "lm_head.weight": eye,
  }));
  const r2 = Math.SQRT2;
  // Position 0 sees only itself: x = e0 + v0 = [1 + √2, 0].
  assertClose(model.forward(0, 0), rmsNormed([1 + r2, 0]));
  // Position 1 (angle 1 rad): q = α√2(−sin 1, cos 1), k1 = √2(−sin 1, cos 1), k0 = (√2, 0).
  const s0 = (alpha * r2 * -Math.sin(1) * r2) / r2;
  const s1 = (alpha * 2) / r2;
  const w1 = 1 / (1 + Math.exp(s0 - s1));
  const attn = [(1 - w1) * r2, w1 * r2];
  assertClose(model.forward(1, 1), rmsNormed([attn[0], 1 + attn[1]]));
});

Deno.test("ReferenceModel maps query head h to kv head floor(h / group)", async () => {
  const gqa = await tinyCheckpoint({ numHeads: 4, numKvHeads: 2 });
  // The same model with each kv head repeated per query head (repeat_interleave) is plain MHA.
  const tensors = new Map(gqa.tensors);
  const headRows = gqa.spec.headDim * gqa.spec.hiddenSize;
  for (let l = 0; l < gqa.spec.numLayers; l++) {
    for (const p of ["k_proj", "v_proj"]) {
      const name = `model.layers.${l}.self_attn.${p}.weight`;
      const w = toFloat32(gqa.tensors.get(name)!);
      const out = new Float32Array(w.length * 2);
      for (let h = 0; h < 4; h++) {
        out.set(
          w.subarray(Math.floor(h / 2) * headRows, (Math.floor(h / 2) + 1) * headRows),
          h * headRows,
        );
      }
      tensors.set(name, fromFloat32(name, [4 * gqa.spec.headDim, gqa.spec.hiddenSize], out, "F32"));
    }
  }
  const mha = ReferenceModel.fromCheckpoint({
    ...gqa,
    spec: { ...gqa.spec, numKvHeads: 4 },
    tensors,
  });
  const ref = ReferenceModel.fromCheckpoint(gqa);
  [7, 99, 260, 3].forEach((token, pos) => {
    assertClose(ref.forward(token, pos), mha.forward(token, pos), 1e-5);
  });
});

Deno.test("ReferenceModel applies qwen3's per-head q/k norm (scale of q_proj cancels)", async () => {
  for (const arch of ["qwen3", "llama"] as const) {
    const ckpt = await tinyCheckpoint({ arch });
    const tensors = new Map(ckpt.tensors);
    const name = "model.layers.0.self_attn.q_proj.weight";
    const t = ckpt.tensors.get(name)!;
    tensors.set(name, fromFloat32(name, t.shape, toFloat32(t).map((v) => v * 4), "F32"));
    const a = ReferenceModel.fromCheckpoint(ckpt);
    const b = ReferenceModel.fromCheckpoint({ ...ckpt, tensors });
    const ids = [10, 200, 33];
    const diff = Math.max(
      ...ids.map((id, pos) => maxAbsDiff(a.forward(id, pos), b.forward(id, pos))),
    );
    if (arch === "qwen3") assert(diff < 1e-4, `qwen3 logits moved by ${diff}`);
    else assert(diff > 1e-2, `llama logits should move, moved by ${diff}`);
  }
});

Deno.test("ReferenceModel keeps sequences apart and can rewind a position", async () => {
  const model = ReferenceModel.fromCheckpoint(await tinyCheckpoint({ arch: "qwen2" }));
  const a = [5, 80, 120, 7];
  const b = [9, 9, 250];
  const alone = a.map((id, pos) => model.forward(id, pos, 0));
  model.reset();
  const interleaved: Float32Array[] = [];
  a.forEach((id, pos) => {
    interleaved.push(model.forward(id, pos, 0));
    if (pos < b.length) model.forward(b[pos], pos, 1);
  });
  assertEquals(interleaved, alone);
  // Re-running position 1 with another token and then the old one restores the old logits.
  model.forward(42, 1, 0);
  assertEquals(model.forward(80, 1, 0), alone[1]);
  assertThrows(() => model.forward(1, 5, 0), RangeError, "cannot run position 5");
  assertThrows(() => model.forward(10_000, 2, 0), RangeError, "vocabulary");
});

Deno.test("ReferenceModel greedy tokens vary on tiny checkpoints of every architecture", async () => {
  for (
    const opts of [{ arch: "llama" }, { arch: "qwen2" }, {
      arch: "qwen3",
      tieWordEmbeddings: true,
    }] as const
  ) {
    const model = ReferenceModel.fromCheckpoint(await tinyCheckpoint(opts));
    const tokens = model.generateGreedy([116, 104, 101], 24);
    assert(new Set(tokens).size >= 8, `${opts.arch}: ${tokens}`);
  }
});

Deno.test("ReferenceModel f16 options round K/V and weights as the GPU stores them", async () => {
  const ckpt = await tinyCheckpoint({ arch: "qwen3" });
  const exact = ReferenceModel.fromCheckpoint(ckpt);
  const f16 = ReferenceModel.fromCheckpoint(ckpt, { f16Weights: true, f16Kv: true });
  for (const [pos, id] of [3, 50, 77].entries()) {
    const trace = f16.forwardTrace(id, pos);
    for (const layer of trace.layers) {
      assert(layer.k.every((v) => roundF16(v) === v) && layer.v.every((v) => roundF16(v) === v));
    }
    const diff = maxAbsDiff(trace.logits, exact.forward(id, pos));
    assert(diff > 0 && diff < 0.05, `f16 logits differ by ${diff}`);
  }
});

const STORIES_GREEDY = [
  432,
  383,
  286,
  261,
  376,
  298,
  315,
  421,
  395,
  317,
  426,
  338,
  401,
  396,
  267,
  337,
];

Deno.test({
  name: "ReferenceModel continues 'Once upon a time' with stories260k in English",
  ignore: !hasStories,
  fn: async () => {
    const tokenizer = await loadTokenizer(STORIES);
    const prompt = tokenizer.encode("Once upon a time");
    assertEquals(prompt, [1, 403, 407, 261, 378]);
    const ckpt = await loadCheckpoint(STORIES);
    const tokens = ReferenceModel.fromCheckpoint(ckpt).generateGreedy(prompt, 24);
    assertEquals(tokens.slice(0, STORIES_GREEDY.length), STORIES_GREEDY);
    const text = tokenizer.decode(tokens);
    for (const word of ["there was", "little girl", "Lily", "play"]) {
      assert(text.includes(word), text);
    }
    // The GPU stores f16 weights and K/V: greedy decoding must not change for it.
    const f16 = ReferenceModel.fromCheckpoint(ckpt, { f16Weights: true, f16Kv: true });
    assertEquals(f16.generateGreedy(prompt, 24), tokens);
  },
});
