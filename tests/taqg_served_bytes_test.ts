import { assertEquals } from "@std/assert";
import { kvDtype } from "../src/kv/dtype.ts";
import type { Phase } from "../src/kv/types.ts";
import { blocksOf, bytesPerToken, heldBytes, longTrace } from "../src/taqg/served_bytes.ts";

const layout = { numKvHeads: 2, blockSize: 4, headDim: 8 };
const dims = { layout, numLayers: 3 };
const f16 = kvDtype("f16").blockBytes(layout), int4 = kvDtype("int4").blockBytes(layout);
// 6 prompt, 7 think, 2 answer: blocks [0,4) [4,6) partial, [6,10) [10,13) partial, [13,15) open
const PHASES: Phase[] = [
  ...Array<Phase>(6).fill("prompt"),
  ...Array<Phase>(7).fill("think"),
  ...Array<Phase>(2).fill("answer"),
];

Deno.test("blocksOf() starts a block when one is full and at every phase change", () => {
  assertEquals(blocksOf(PHASES, 4).map((b) => [b.start, b.end]), [
    [0, 4],
    [4, 6],
    [6, 10],
    [10, 13],
    [13, 15],
  ]);
});

Deno.test("heldBytes() counts the window, the open block and partial blocks at f16", () => {
  const int4Think = (p: Phase) => (p === "think" ? "int4" : "f16");
  // no window: every closed block sealed; the open one f16
  assertEquals(heldBytes(PHASES, int4Think, 0, dims), (3 * f16 + 2 * int4) * 3);
  // a 3-token window: [10,13) has only 2 tokens behind it and stays f16
  assertEquals(heldBytes(PHASES, int4Think, 3, dims), (4 * f16 + int4) * 3);
  assertEquals(
    bytesPerToken([PHASES], { prompt: "int4", think: "int4", answer: "int4" }, 0, dims),
    (4 * int4 + f16) * 3 / 15,
  );
});

Deno.test("longTrace() is the prompt, three quarters think, then answer", () => {
  const t = longTrace(4096);
  assertEquals(t.length, 4096);
  assertEquals(t.filter((p) => p === "prompt").length, 64);
  assertEquals(t.filter((p) => p === "think").length, 3024);
});
