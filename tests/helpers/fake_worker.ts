/**
 * An engine Worker entry on the fake runner: createEngine({ backend: fakeBackend, workerUrl })
 * runs the real Worker protocol without a GPU.
 * @module
 */
/// <reference lib="deno.worker" />
import { serveEngineWorker } from "../../src/engine/worker_host.ts";
import * as fakeBackend from "./fake_runner.ts";

serveEngineWorker(fakeBackend);
