import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import {
  envName,
  flag,
  FlagError,
  flagsFromEnv,
  parseFlags,
  usageText,
} from "../src/config/flag_parser.ts";
import { byteSize, ENGINE_FLAGS, integer, kvDtypeName, text, toggle } from "../src/config/flags.ts";
import { z } from "zod";

const TABLE = {
  "block-size": flag(integer(1).default(16), "tokens per block", { value: "N" }),
  "kv-cache-memory": flag(byteSize.optional(), "budget", { value: "BYTES" }),
  "kv-cache-dtype-think": flag(kvDtypeName.optional(), "think dtype", { value: "D" }),
  "api-key": flag(z.array(text).default([]), "keys", { value: "K", multiple: true }),
  json: flag(toggle, "print JSON"),
};

Deno.test("parseFlags() converts each flag by its schema, camel-cases names, fills defaults", () => {
  assertEquals(
    parseFlags(TABLE, [
      "--kv-cache-memory",
      "2MiB",
      "--api-key",
      "a",
      "--api-key",
      "b",
      "--json",
      "--kv-cache-dtype-think",
      "q4",
    ]),
    {
      blockSize: 16,
      kvCacheMemory: 2 ** 21,
      apiKey: ["a", "b"],
      json: true,
      kvCacheDtypeThink: "q4",
    },
  );
  assertEquals(parseFlags(TABLE, ["-h"]), null);
  assertEquals(parseFlags(TABLE, ["--help", "--block-size", "x"]), null);
});

Deno.test("parseFlags() names the flag at fault and what it got", () => {
  const cases: [string[], string][] = [
    [["--block-size", "0"], "--block-size"],
    [["--block-size", "two"], "--block-size"],
    [["--kv-cache-memory", "lots"], "--kv-cache-memory"],
    [["--kv-cache-dtype-think", "int5"], "--kv-cache-dtype-think"],
    [["--bogus"], "--bogus"],
    [["--block-size"], "--block-size"],
  ];
  for (const [args, name] of cases) {
    const e = assertThrows(() => parseFlags(TABLE, args), FlagError);
    assertEquals(e.flag, name, e.message);
    assert(e.message.startsWith(`${name}: `), e.message);
  }
});

Deno.test("flagsFromEnv() reads PHASEKV_* variables with the same schemas", () => {
  assertEquals(envName("kv-cache-dtype-think"), "PHASEKV_KV_CACHE_DTYPE_THINK");
  const env: Record<string, string> = {
    PHASEKV_API_KEY: "k1, k2",
    PHASEKV_JSON: "1",
    PHASEKV_BLOCK_SIZE: "8",
  };
  assertEquals(flagsFromEnv(TABLE, (n) => env[n]), {
    blockSize: 8,
    apiKey: ["k1", "k2"],
    json: true,
  });
  const e = assertThrows(
    () => flagsFromEnv(TABLE, (n) => n === "PHASEKV_BLOCK_SIZE" ? "0" : undefined),
    FlagError,
  );
  assertEquals(e.flag, "PHASEKV_BLOCK_SIZE");
});

Deno.test("usageText() lists every flag with its help and default", () => {
  const help = usageText("deno task x [options]", ENGINE_FLAGS);
  for (const [name, f] of Object.entries(ENGINE_FLAGS)) {
    assertStringIncludes(help, `--${name}`);
    assertStringIncludes(help, f.help);
  }
  assertStringIncludes(help, "(default 16)");
  assertStringIncludes(help, "-h, --help");
});
