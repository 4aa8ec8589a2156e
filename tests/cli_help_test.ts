/** Every task of deno.json that takes flags prints its --help, from the shared flag schema. */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";

const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
const TASKS = [
  "serve",
  "generate",
  "calibrate",
  "bench:decode",
  "bench:throughput",
  "bench:accuracy",
  "bench:kv",
];

Deno.test("deno task <name> --help prints usage and every flag's help, and exits 0", async () => {
  for (const task of TASKS) {
    assert(task in config.tasks, `deno.json has no task ${task}`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", task, "--help"],
      cwd: new URL("..", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assertEquals(out.code, 0, `${task}: ${new TextDecoder().decode(out.stderr)}`);
    assertStringIncludes(stdout, "Usage: deno task");
    assertStringIncludes(stdout, "-h, --help");
  }
});

Deno.test("the engine flags read the same in serve and generate: one entry each", async () => {
  const help = async (task: string) =>
    new TextDecoder().decode(
      (await new Deno.Command(Deno.execPath(), {
        args: ["task", "-q", task, "--help"],
        cwd: new URL("..", import.meta.url),
        stdout: "piped",
        stderr: "null",
      }).output()).stdout,
    );
  const line = (text: string, flag: string) =>
    text.split("\n").find((l) => l.trim().startsWith(flag));
  const [serve, generate] = [await help("serve"), await help("generate")];
  for (const flag of ["--kv-cache-dtype ", "--kv-profile", "--kv-recent-tokens", "--block-size"]) {
    assertEquals(line(serve, flag)?.trim(), line(generate, flag)?.trim(), flag);
  }
});
