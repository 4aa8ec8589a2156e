/**
 * A cap on requests served at once, streams counted until their last byte or the client's
 * disconnect. Deno.serve bounds neither connections nor header reads; this bounds what each
 * open request costs the server.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { ApiError } from "./api_error.ts";

/** Counts open requests; past `max`, answers 503 `server_busy` with Retry-After. */
export function openRequestCap(max: number): MiddlewareHandler {
  let open = 0;
  return async (c, next) => {
    if (open >= max) {
      throw new ApiError(503, `The server is serving its limit of ${max} open requests`, {
        code: "server_busy",
        headers: { "Retry-After": "1" },
      });
    }
    open++;
    let released = false;
    const release = () => {
      if (!released) open--;
      released = true;
    };
    try {
      await next();
    } catch (err) {
      release();
      throw err;
    }
    const res = c.res;
    if (!res.body) return release();
    const reader = res.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { value, done } = await reader.read();
          if (done) {
            release();
            controller.close();
          } else controller.enqueue(value);
        } catch (err) {
          release();
          controller.error(err);
        }
      },
      cancel(reason) {
        release();
        return reader.cancel(reason);
      },
    });
    c.res = new Response(body, { status: res.status, headers: res.headers });
  };
}
