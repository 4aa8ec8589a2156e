import { assertEquals, assertThrows } from "@std/assert";
import { GenerateFlagError, parseGenerateArgs } from "../src/cli/generate_flags.ts";

Deno.test("parseGenerateArgs() reads --max-num-batched-tokens and names it when bad", () => {
  const flags = parseGenerateArgs(["--prompt-ids", "1,2", "--max-num-batched-tokens", "1024"])!;
  assertEquals(flags.maxNumBatchedTokens, 1024);
  // unset: the engine's default applies
  assertEquals(parseGenerateArgs(["--prompt-ids", "1"])!.maxNumBatchedTokens, undefined);
  for (const bad of ["0", "many", "1.5"]) {
    assertThrows(
      () => parseGenerateArgs(["--prompt-ids", "1", "--max-num-batched-tokens", bad]),
      GenerateFlagError,
      "--max-num-batched-tokens",
    );
  }
});
