/**
 * The engine Worker's entry: serves the engine on the WebGPU backend (see worker_host.ts).
 * @module
 */
/// <reference lib="deno.worker" />
import * as gpuBackend from "./gpu_backend.ts";
import { serveEngineWorker } from "./worker_host.ts";

serveEngineWorker(gpuBackend);
