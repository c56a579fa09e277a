// Each route's handler is wrapped once, at start-up, with what every request needs: its
// errors turned into the contract's error body, and one count and one latency sample under
// the route's pattern (never the raw path: ids would make a metric per member).
// A wrapper instead of an `app.use("*")` middleware keeps one handler per route, and Hono
// runs a lone handler without composing a middleware chain — the member read is the hot path.
// A handler that answers synchronously (cached member, API key) stays synchronous.
// A second argument is passed through: Hono's `next` (unused), or the fast path's member id.

import type { Context } from "hono";
import type { GatewayMetrics } from "../metrics.ts";
import { responseOfError } from "./errors.ts";

export type RouteHandler = (c: Context) => Response | Promise<Response>;

export interface Observer {
  metrics: GatewayMetrics;
  /** Errors the caller only sees as 500 `internal`. */
  onInternal: (err: unknown, route: string) => void;
}

export function observed<A = Context, B = unknown>(
  route: string,
  handler: (a: A, b: B) => Response | Promise<Response>,
  obs: Observer,
): (a: A, b: B) => Response | Promise<Response> {
  const stats = obs.metrics.http.route(route);
  const record = (start: number, res: Response): Response => {
    stats.record(res.status, (performance.now() - start) / 1000);
    return res;
  };
  const fail = (start: number, err: unknown): Response =>
    record(start, responseOfError(err, (e) => obs.onInternal(e, route)));
  return (a, b) => {
    const start = performance.now();
    let out: Response | Promise<Response>;
    try {
      out = handler(a, b);
    } catch (err) {
      return fail(start, err);
    }
    if (out instanceof Response) return record(start, out);
    return out.then(
      (res) => record(start, res),
      (err: unknown) => fail(start, err),
    );
  };
}
