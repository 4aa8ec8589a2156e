import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { engineSettings } from "../src/config/flags.ts";
import { modelDir, parseServeArgs, serveFlagsFromEnv, USAGE } from "../src/server/flags.ts";

Deno.test("parseServeArgs() reads every serve flag with its type", () => {
  const flags = parseServeArgs([
    "--model",
    "/models/qwq",
    "--host",
    "0.0.0.0",
    "--port",
    "9000",
    "--api-key",
    "a",
    "--api-key",
    "b",
    "--kv-cache-dtype",
    "fp8",
    "--kv-cache-dtype-think",
    "int4",
    "--kv-cache-dtype-answer",
    "int8",
    "--kv-cache-memory",
    "512MiB",
    "--block-size",
    "32",
    "--think-fraction",
    "0.5",
    "--max-num-seqs",
    "8",
    "--max-num-batched-tokens",
    "2048",
    "--kv-profile",
    "none",
    "--reasoning-field",
    "reasoning",
    "--allowed-origins",
    "https://a.example",
    "--allowed-origins",
    "*",
    "--log-level",
    "warn",
    "--shutdown-timeout",
    "5",
    "--body-read-timeout",
    "2.5",
    "--max-open-requests",
    "64",
    "--weights-dtype",
    "int4",
  ]);
  assertEquals(flags, {
    model: "/models/qwq",
    host: "0.0.0.0",
    port: 9000,
    apiKey: ["a", "b"],
    kvCacheDtype: "fp8",
    kvCacheDtypeThink: "int4",
    kvCacheDtypeAnswer: "int8",
    kvCacheMemory: 512 * 2 ** 20,
    blockSize: 32,
    thinkFraction: 0.5,
    maxNumSeqs: 8,
    maxNumBatchedTokens: 2048,
    kvProfile: "none",
    reasoningField: "reasoning",
    allowedOrigins: ["https://a.example", "*"],
    logLevel: "warn",
    shutdownTimeout: 5,
    bodyReadTimeout: 2.5,
    maxOpenRequests: 64,
    weightsDtype: "int4",
  });
});

Deno.test("parseServeArgs() defaults, --help, and errors naming the flag", () => {
  const flags = parseServeArgs([])!;
  assertEquals([flags.host, flags.port, flags.kvCacheDtype, flags.blockSize], [
    "127.0.0.1",
    8000,
    "auto",
    undefined, // the profile's block_size, else 16 (the engine resolves it)
  ]);
  assertStringIncludes(modelDir(flags), "models/phasekv-tiny-reasoner");
  assertEquals(parseServeArgs(["--help"]), null);
  assertThrows(() => parseServeArgs(["--port", "http"]), TypeError, "--port");
  assertThrows(() => parseServeArgs(["--kv-cache-memory", "lots"]), TypeError, "--kv-cache-memory");
  assertThrows(() => parseServeArgs(["--think-fraction", "2"]), TypeError, "--think-fraction");
  assertThrows(
    () => parseServeArgs(["--admission-headroom", "1.5"]),
    TypeError,
    "--admission-headroom",
  );
  assertEquals(parseServeArgs(["--admission-headroom", "0.5"])?.admissionHeadroom, 0.5);
  assertThrows(
    () => parseServeArgs(["--max-num-batched-tokens", "0"]),
    TypeError,
    "--max-num-batched-tokens",
  );
  assertThrows(
    () => parseServeArgs(["--kv-cache-dtype-think", "int5"]),
    TypeError,
    "--kv-cache-dtype-think: Unknown KV cache dtype",
  );
  assertEquals(parseServeArgs(["--kv-cache-dtype", "Q4"])!.kvCacheDtype, "Q4");
  assertThrows(() => parseServeArgs(["--bogus"]));
  assertThrows(() => parseServeArgs(["--weights-dtype", "int3"]), TypeError, "--weights-dtype");
  assertEquals(parseServeArgs([])!.weightsDtype, undefined);
});

Deno.test("serveFlagsFromEnv() reads PHASEKV_* variables and names the bad one", () => {
  const env: Record<string, string> = {
    PHASEKV_MODEL: "/m",
    PHASEKV_API_KEY: "k1, k2",
    PHASEKV_KV_CACHE_DTYPE_THINK: "int3",
    PHASEKV_KV_CACHE_MEMORY: "2GB",
  };
  const flags = serveFlagsFromEnv((name) => env[name]);
  assertEquals([flags.model, flags.apiKey, flags.kvCacheDtypeThink], ["/m", ["k1", "k2"], "int3"]);
  assertEquals(flags.kvCacheMemory, 2e9);
  assertThrows(
    () => serveFlagsFromEnv((n) => n === "PHASEKV_BLOCK_SIZE" ? "0" : undefined),
    TypeError,
    "PHASEKV_BLOCK_SIZE",
  );
});

Deno.test("deno task serve without a model folder says a model is needed and exits 2", async () => {
  const main = new URL("../src/server/main.ts", import.meta.url);
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main.href, "--model", "/nonexistent/model", "--port", "0"],
    stdout: "null",
    stderr: "piped",
  }).output();
  assertEquals(code, 2);
  assertStringIncludes(new TextDecoder().decode(stderr), "pass --model DIR");
});

Deno.test("every serve flag in --help is in the README's table, with the same default", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const rows = readme.split("\n").filter((line) => line.startsWith("| `--"));
  const flags = [...USAGE.matchAll(/^\s+(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1])
    .filter((f) => f !== "--help");
  for (const flag of flags) {
    const row = rows.find((r) => r.includes(`\`${flag} `) || r.includes(`\`${flag}\``));
    if (!row) throw new Error(`${flag} is in serve --help but not in the README's flag table`);
    const help = USAGE.split("\n").find((l) => l.includes(flag))!;
    const helpDefault = /\(default:? ([^)]+)\)/.exec(help)?.[1];
    if (helpDefault && /^\d/.test(helpDefault)) {
      assertStringIncludes(row, helpDefault, `${flag}: --help says ${helpDefault}`);
    }
  }
});

Deno.test("parseServeArgs() reads --kv-demotion, --kv-cache-dtype-think-after-answer and --[no-]enable-prefix-caching", () => {
  const flags = parseServeArgs([
    "--kv-demotion",
    "answer:int2,think:int3",
    "--kv-cache-dtype-think-after-answer",
    "q2",
    "--no-enable-prefix-caching",
  ])!;
  assertEquals(flags.kvDemotion, "answer:int2,think:int3");
  assertEquals(flags.kvCacheDtypeThinkAfterAnswer, "q2");
  assertEquals(engineSettings(flags).enablePrefixCaching, false);
  assertEquals(
    engineSettings(parseServeArgs(["--enable-prefix-caching"])!).enablePrefixCaching,
    true,
  );
  assertEquals(engineSettings(parseServeArgs([])!).enablePrefixCaching, undefined);
  const bad = assertThrows(() => parseServeArgs(["--kv-demotion", "thonk:int3"]), TypeError);
  assertStringIncludes(bad.message, "--kv-demotion");
  assertThrows(() => parseServeArgs(["--kv-demotion", "think:f16"]), TypeError);
  assertEquals(
    engineSettings(
      serveFlagsFromEnv((n) => n === "PHASEKV_ENABLE_PREFIX_CACHING" ? "false" : undefined),
    ).enablePrefixCaching,
    false,
  );
});
