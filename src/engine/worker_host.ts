/**
 * The engine Worker's side of the protocol: loads the model through a backend, runs a
 * LocalEngine (the same EngineCore as in-process) and answers the main-thread proxy by messages,
 * so that GPU waits never stall the HTTP event loop. Stats and block map travel as snapshots,
 * pushed while busy. worker.ts runs it with the WebGPU backend; tests with the fake runner's.
 * @module
 */
/// <reference lib="deno.worker" />
import type { BackendModule } from "./backend.ts";
import { LocalEngine } from "./local_engine.ts";
import { type EngineSnapshot, type FromWorker, toWire, type ToWorker } from "./protocol.ts";
import type { GenerateRequest } from "./types.ts";

/** How often a busy Worker pushes a snapshot. */
const SNAPSHOT_MS = 250;

/** Makes this Worker serve an engine whose model `backend` loads. */
export function serveEngineWorker(backend: BackendModule): void {
  let engine: LocalEngine | null = null;
  const requests = new Map<number, AbortController>();
  let timer: ReturnType<typeof setInterval> | null = null;

  const post = (message: FromWorker) => self.postMessage(message);
  const snapshot = (): EngineSnapshot => ({ stats: engine!.stats(), blockMap: engine!.blockMap() });

  async function run(id: number, request: GenerateRequest): Promise<void> {
    const controller = new AbortController();
    requests.set(id, controller);
    timer ??= setInterval(() => post({ type: "snapshot", snapshot: snapshot() }), SNAPSHOT_MS);
    try {
      for await (const output of engine!.generate(request, { signal: controller.signal })) {
        post({ type: "output", id, output });
      }
    } catch (error) {
      post({ type: "failed", id, error: toWire(error) });
    } finally {
      requests.delete(id);
      if (requests.size === 0 && timer !== null) {
        clearInterval(timer);
        timer = null;
        // blocks of the last request go back only once its steps in flight resolve
        await engine!.core.whenIdle();
        post({ type: "snapshot", snapshot: snapshot() });
      }
    }
  }

  self.onmessage = async (event: MessageEvent<ToWorker>) => {
    const message = event.data;
    switch (message.type) {
      case "init": {
        const { model, config } = message.init;
        try {
          const parts = await backend.loadEngineParts(model, config, (text) => {
            post({ type: "progress", message: text });
          });
          engine = new LocalEngine(parts, config);
          post({
            type: "ready",
            modelId: engine.modelId,
            maxModelLen: engine.maxModelLen,
            kvPolicy: engine.kvPolicy,
            snapshot: snapshot(),
            summary: engine.describe(),
          });
        } catch (error) {
          post({ type: "initFailed", error: toWire(error) });
        }
        return;
      }
      case "generate":
        return run(message.id, message.request);
      case "abort":
        requests.get(message.id)?.abort();
        return;
      case "refresh":
        post({ type: "snapshot", snapshot: snapshot() });
        return;
      case "close":
        if (timer !== null) clearInterval(timer);
        await engine?.close();
        post({ type: "closed" });
        self.close();
    }
  };
}
