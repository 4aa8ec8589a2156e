/**
 * A deadline for reading a request body: Deno.serve has no read timeout, so a client that sends
 * half a body would hold its request (and a clean shutdown) forever. The body is wrapped so that
 * a read still waiting at the deadline fails with a 408.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { ApiError } from "./api_error.ts";

/** Ends a body read with 408 `body_read_timeout` once `ms` have passed since the request came. */
export function bodyDeadline(ms: number): MiddlewareHandler {
  return async (c, next) => {
    const raw = c.req.raw.body;
    if (!raw) return await next();
    const reader = raw.getReader();
    const timedOut = () =>
      new ApiError(408, `The request body did not arrive within ${ms / 1000} s`, {
        code: "body_read_timeout",
      });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timedOut()), ms);
    });
    deadline.catch(() => {});
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { value, done } = await Promise.race([reader.read(), deadline]);
          if (done) {
            clearTimeout(timer);
            controller.close();
          } else controller.enqueue(value);
        } catch (err) {
          clearTimeout(timer);
          reader.cancel().catch(() => {});
          controller.error(err);
        }
      },
      cancel(reason) {
        clearTimeout(timer);
        return reader.cancel(reason);
      },
    });
    c.req.raw = new Request(c.req.raw, { body });
    try {
      await next();
    } finally {
      clearTimeout(timer);
    }
  };
}
