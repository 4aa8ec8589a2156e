import { assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import { UnknownKvDtypeError } from "../src/kv/dtype.ts";
import { resolvePhasePolicy } from "../src/kv/policy.ts";
import { KvProfileError, loadProfile, PROFILE_FILE } from "../src/kv/profile.ts";

Deno.test("resolvePhasePolicy() maps auto to the base and the base auto to f16", () => {
  assertEquals(resolvePhasePolicy({ base: "auto" }), {
    prompt: "f16",
    think: "f16",
    answer: "f16",
  });
  assertEquals(resolvePhasePolicy({ base: "fp8_e4m3", think: "auto", answer: "Q4" }), {
    prompt: "fp8",
    think: "fp8",
    answer: "int4",
  });
});

Deno.test("resolvePhasePolicy() lets the profile override the engine and the request both", () => {
  const profile = { version: 1 as const, phases: { think: "int3", answer: "int8" } };
  const engine = { base: "int8", think: "int4", answer: "int4", prompt: "fp16" };
  assertEquals(resolvePhasePolicy(engine, profile), {
    prompt: "f16",
    think: "int3",
    answer: "int8",
  });
  assertEquals(resolvePhasePolicy(engine, profile, { think: "int2", answer: "auto" }), {
    prompt: "f16",
    think: "int2",
    answer: "int8", // auto = the base
  });
  assertEquals(resolvePhasePolicy(engine, null, {}).think, "int4");
});

Deno.test("resolvePhasePolicy() rejects unknown names, listing the valid ones", () => {
  const e = assertThrows(
    () => resolvePhasePolicy({ base: "f16" }, null, { think: "int5" }),
    UnknownKvDtypeError,
  );
  for (const name of ["f16", "fp8", "int8", "int4", "int3", "int2", "auto", "fp8_e4m3"]) {
    assertStringIncludes(e.message, name);
  }
  assertThrows(() => resolvePhasePolicy({ base: "bfloat16" }), UnknownKvDtypeError);
});

Deno.test("loadProfile() reads a profile, returns null when absent, names a bad one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assertEquals(await loadProfile(dir), null);
    const good = { version: 1 as const, phases: { think: "int4" }, calibration: { kl: 0.01 } };
    await Deno.writeTextFile(`${dir}/${PROFILE_FILE}`, JSON.stringify(good));
    assertEquals(await loadProfile(dir), good);
    const cases: [string, string][] = [
      ["{", "JSON"],
      [JSON.stringify({ version: 2, phases: {} }), "version"],
      [JSON.stringify({ version: 1, phases: { thinking: "int4" } }), "phases"],
      [JSON.stringify({ version: 1, phases: { think: "int5" } }), "phases.think"],
    ];
    for (const [text, where] of cases) {
      await Deno.writeTextFile(`${dir}/${PROFILE_FILE}`, text);
      const e = await assertRejects(() => loadProfile(dir), KvProfileError);
      assertStringIncludes(e.message, PROFILE_FILE);
      if (where !== "JSON") assertStringIncludes(e.message, where);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
