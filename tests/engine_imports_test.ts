/**
 * The engine's module graph: no import cycle, and no import by computed URL (which `deno
 * publish` cannot analyse).
 */
import { assertEquals } from "@std/assert";

const ENGINE = new URL("../src/engine/", import.meta.url);

async function localImports(file: URL): Promise<URL[]> {
  const text = await Deno.readTextFile(file);
  return [...text.matchAll(/^(?:import|export)[^;]*?from "(\.[^"]+)";/gms)]
    .map((m) => new URL(m[1], file));
}

Deno.test("src/engine has no import cycle, type-only imports included", async () => {
  const files: URL[] = [];
  for await (const entry of Deno.readDir(ENGINE)) {
    if (entry.name.endsWith(".ts")) files.push(new URL(entry.name, ENGINE));
  }
  const graph = new Map<string, string[]>();
  for (const file of files) {
    graph.set(
      file.href,
      (await localImports(file)).map((u) => u.href).filter((h) => h.startsWith(ENGINE.href)),
    );
  }
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const visit = (node: string, path: string[]) => {
    if (state.get(node) === "done") return;
    if (state.get(node) === "open") {
      cycles.push(
        [...path.slice(path.indexOf(node)), node].map((h) => h.slice(ENGINE.href.length)).join(
          " → ",
        ),
      );
      return;
    }
    state.set(node, "open");
    for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
    state.set(node, "done");
  };
  for (const node of graph.keys()) visit(node, []);
  assertEquals(cycles, []);
});

Deno.test("src has no dynamic import of a computed specifier", async () => {
  const offenders: string[] = [];
  const walk = async (dir: URL) => {
    for await (const entry of Deno.readDir(dir)) {
      const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
      if (entry.isDirectory) await walk(url);
      else if (entry.name.endsWith(".ts")) {
        const text = await Deno.readTextFile(url);
        if (/\bimport\((?!\s*["'])/.test(text)) offenders.push(url.pathname);
      }
    }
  };
  await walk(new URL("../src/", import.meta.url));
  assertEquals(offenders, []);
});
