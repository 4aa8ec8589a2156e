/**
 * GET /: the playground page (chat, and the live KV map by phase and dtype). It holds no secret,
 * so it stays open when API keys are set; the page sends the key the user enters to /v1.
 * @module
 */
import type { Route } from "../route.ts";
import { playgroundPage } from "../ui/playground_html.ts";

const PAGE = playgroundPage();

/** The playground page (left out of the app with `ui: false`, `--no-ui`). */
export const playgroundRoute: Route = {
  method: "GET",
  path: "/",
  handle(c) {
    return c.html(PAGE.html, 200, {
      "Content-Security-Policy": PAGE.csp,
      "Cache-Control": "no-cache",
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "no-referrer",
    });
  },
};
