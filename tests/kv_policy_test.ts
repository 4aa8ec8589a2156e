import { assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import { UnknownKvDtypeError } from "../src/kv/dtype.ts";
import { describeKvPolicy, resolveKvPolicy, resolvePhasePolicy } from "../src/kv/policy.ts";
import {
  KvProfileError,
  loadProfile,
  loadProfileSetting,
  PROFILE_FILE,
} from "../src/kv/profile.ts";

const PROFILE = { version: 1 as const, phases: { prompt: "int4", think: "int3", answer: "int8" } };

Deno.test("resolveKvPolicy() without any source stores every phase f16, by default", () => {
  const policy = resolveKvPolicy({ base: "auto", think: "auto" });
  assertEquals(policy.prompt, { dtype: "f16", source: "default" });
  assertEquals(policy.think, { dtype: "f16", source: "default" });
  assertEquals(
    describeKvPolicy(policy),
    "prompt f16 (default), think f16 (default), answer f16 (default)",
  );
});

Deno.test("resolveKvPolicy(): the profile beats the default, the user's flags beat the profile", () => {
  assertEquals(resolvePhasePolicy({}, PROFILE), { prompt: "int4", think: "int3", answer: "int8" });
  // --kv-cache-dtype f16 alone: every phase f16, whatever the profile says
  const base = resolveKvPolicy({ base: "fp16" }, PROFILE);
  for (const phase of ["prompt", "think", "answer"] as const) {
    assertEquals(base[phase], { dtype: "f16", source: "flag" });
  }
  // a per-phase flag sets only its phase; the others keep the profile's
  const think = resolveKvPolicy({ think: "Q4" }, PROFILE);
  assertEquals(think.think, { dtype: "int4", source: "flag" });
  assertEquals(think.prompt, { dtype: "int4", source: "profile" });
  assertEquals(think.answer, { dtype: "int8", source: "profile" });
  // base and a per-phase flag together
  assertEquals(resolvePhasePolicy({ base: "fp8_e4m3", answer: "int2" }, PROFILE), {
    prompt: "fp8",
    think: "fp8",
    answer: "int2",
  });
});

Deno.test("resolveKvPolicy(): the request beats everything; its auto leaves the phase alone", () => {
  const policy = resolveKvPolicy({ base: "int8", think: "int4" }, PROFILE, {
    think: "int2",
    answer: "auto",
  });
  assertEquals(policy.think, { dtype: "int2", source: "request" });
  assertEquals(policy.answer, { dtype: "int8", source: "flag" });
});

Deno.test("resolveKvPolicy() rejects unknown names, even shadowed ones, listing the valid ones", () => {
  const e = assertThrows(
    () => resolvePhasePolicy({ base: "f16" }, null, { think: "int5" }),
    UnknownKvDtypeError,
  );
  for (const name of ["f16", "fp8", "int8", "int4", "int3", "int2", "auto", "fp8_e4m3"]) {
    assertStringIncludes(e.message, name);
  }
  assertThrows(() => resolvePhasePolicy({ base: "bfloat16" }), UnknownKvDtypeError);
  assertThrows(
    () => resolvePhasePolicy({ think: "int9" }, null, { think: "f16" }),
    UnknownKvDtypeError,
  );
});

Deno.test("loadProfileSetting(): auto reads the model's, none ignores it, a PATH must exist", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/${PROFILE_FILE}`, JSON.stringify(PROFILE));
    const other = `${dir}/other.json`;
    await Deno.writeTextFile(other, JSON.stringify({ version: 1, phases: { think: "int2" } }));
    assertEquals((await loadProfileSetting(dir, "auto"))?.phases, PROFILE.phases);
    assertEquals(await loadProfileSetting(dir, "none"), null);
    assertEquals((await loadProfileSetting(dir, other))?.phases, { think: "int2" });
    const e = await assertRejects(
      () => loadProfileSetting(dir, `${dir}/nope.json`),
      KvProfileError,
    );
    assertStringIncludes(e.message, "nope.json");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
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
