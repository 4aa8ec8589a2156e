/**
 * Mounts phasekv's OpenAI-compatible app under a prefix of your own Hono app, next to your
 * own routes and middleware: the model is then served at /llm/v1/chat/completions.
 *
 *   deno run -A examples/mount_in_hono.ts --model models/phasekv-tiny-reasoner
 * @module
 */
import { Hono } from "hono";
import { logger } from "hono/logger";
import { createApp } from "../src/server/app.ts";
import { startEngine } from "../src/server/engine_factory.ts";
import { parseServeArgs } from "../src/server/flags.ts";

const flags = parseServeArgs(Deno.args);
if (!flags) Deno.exit(0);

// the engine loads in the background; /llm/health answers 503 until it is ready
const phasekv = createApp(startEngine(flags), { apiKeys: flags.apiKey });

const app = new Hono();
app.use(logger());
app.get("/", (c) => c.text("My service; the model lives under /llm/v1"));
app.route("/llm", phasekv);

Deno.serve({ hostname: flags.host, port: flags.port }, app.fetch);
