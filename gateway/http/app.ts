// The gateway's HTTP API (CONTRACT.md "HTTP"): one Hono app, one table of routes.
// Every route is wrapped by `observed` (errors → `{error: {code, message}}`, metrics by route
// pattern); an unknown path is 404 `not_found`, a known path with another method 405 with
// `Allow`. HEAD is GET without a body (Hono).

import { Hono } from "hono";
import { Authenticator } from "./authenticator.ts";
import type { HttpDeps } from "./deps.ts";
import { EngineStatsSource } from "./engine-stats.ts";
import { errorResponse } from "./errors.ts";
import { type Observer, observed, type RouteHandler } from "./observed.ts";
import { healthzHandler, metricsHandler, readyzHandler } from "./routes/health.ts";
import {
  claimHandler,
  eligibilityBatchHandler,
  getBenefitHandler,
  listBenefitsHandler,
  memberEligibilityHandler,
  putBenefitHandler,
} from "./routes/benefits.ts";
import { memberRead } from "./routes/members.ts";
import { pathOf } from "./path.ts";
import { ordersHandler } from "./routes/orders.ts";
import { statsHandler } from "./routes/stats.ts";

export type { HttpDeps } from "./deps.ts";

type Method = "GET" | "POST" | "PUT" | "DELETE";

interface Route {
  method: Method;
  path: string;
  handler: RouteHandler;
}

/** Label of requests that matched no route (404, 405): one series, whatever the path. */
const UNMATCHED = "unmatched";

/** The HTTP API as Bun.serve's fetch handler. */
export interface HttpApi {
  fetch(req: Request): Response | Promise<Response>;
  /** The same, for a caller that has the request's path already (gateway.ts routes on it). */
  handle(req: Request, path: string): Response | Promise<Response>;
  /** The Hono app behind every route but the fast path. */
  app: Hono;
}

/** `/v1/members/` — the prefix of the member read, the fast path. */
const MEMBER_PREFIX = "/v1/members/";

export function buildHttpApp(deps: HttpDeps): HttpApi {
  const log = deps.log ?? { error: (msg: string) => process.stderr.write(`${new Date().toISOString()} error gateway.http ${msg}\n`) };
  const obs: Observer = {
    metrics: deps.metrics,
    onInternal: (err, route) => log.error(`${route}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
  };
  const auth = new Authenticator(deps.options);
  const engineStats = new EngineStatsSource(deps.nc, undefined, deps.now);

  const readMember = memberRead(deps, auth);
  const routes: Route[] = [
    { method: "GET", path: "/v1/members/:id", handler: (c) => readMember(c.req.header("authorization"), c.req.param("id")) },
    { method: "GET", path: "/v1/members/:id/eligibility", handler: memberEligibilityHandler(deps, auth) },
    { method: "POST", path: "/v1/eligibility", handler: eligibilityBatchHandler(deps, auth) },
    { method: "GET", path: "/v1/benefits", handler: listBenefitsHandler(deps, auth) },
    { method: "GET", path: "/v1/benefits/:id", handler: getBenefitHandler(deps, auth) },
    { method: "PUT", path: "/v1/benefits/:id", handler: putBenefitHandler(deps, auth) },
    { method: "POST", path: "/v1/benefits/:id/claims", handler: claimHandler(deps, auth) },
    { method: "POST", path: "/v1/orders", handler: ordersHandler(deps, auth) },
    { method: "GET", path: "/v1/stats", handler: statsHandler(deps, auth, engineStats) },
    { method: "GET", path: "/healthz", handler: healthzHandler },
    { method: "GET", path: "/readyz", handler: readyzHandler(deps, engineStats) },
    { method: "GET", path: "/metrics", handler: metricsHandler(deps) },
  ];

  const app = new Hono();
  for (const r of routes) app.on(r.method, r.path, observed(r.path, r.handler, obs));

  const allowed = routes.map((r) => ({ pattern: patternOf(r.path), method: r.method }));
  const unmatched = observed(
    UNMATCHED,
    (c) => {
      const methods: string[] = [...new Set(allowed.filter((a) => a.pattern.test(c.req.path)).map((a) => a.method))];
      if (methods.length === 0) return errorResponse(404, "not_found", `no route ${c.req.method} ${c.req.path}`);
      if (methods.includes("GET")) methods.push("HEAD");
      return errorResponse(405, "method_not_allowed", `${c.req.method} is not allowed here; use ${methods.join(", ")}`, undefined, {
        allow: methods.join(", "),
      });
    },
    obs,
  );
  app.notFound((c) => unmatched(c, undefined));
  // A backstop: every route is already wrapped, so only Hono itself can land here.
  app.onError((err) => {
    obs.onInternal(err, UNMATCHED);
    return errorResponse(500, "internal", "internal error; the gateway log has the details");
  });
  // The member read is the API's hot path (a promotion system reads members by the thousand):
  // a plain GET of /v1/members/<id> goes straight to its handler, under the same `observed`
  // wrapper, without Hono's Context, router and header helpers (~20 % of the gateway's CPU per
  // cached read). Anything else about that path (HEAD, a %-escape, a trailing slash, another
  // method) takes the Hono route, which answers exactly as before.
  const memberFast = observed<Request, string>("/v1/members/:id", (req, id) => readMember(req.headers.get("authorization"), id), obs);
  const handle = (req: Request, path: string): Response | Promise<Response> => {
    if (req.method === "GET" && isPlainMemberPath(path)) return memberFast(req, path.slice(MEMBER_PREFIX.length));
    return app.fetch(req);
  };
  return { app, handle, fetch: (req) => handle(req, pathOf(req.url)) };
}

/** /v1/members/<segment> with one non-empty segment and no %-escape (Hono would decode one). */
function isPlainMemberPath(path: string): boolean {
  return path.length > MEMBER_PREFIX.length && path.startsWith(MEMBER_PREFIX) && path.indexOf("/", MEMBER_PREFIX.length) < 0 && path.indexOf("%", MEMBER_PREFIX.length) < 0;
}

/** `/v1/members/:id` → /^\/v1\/members\/[^/]+$/ */
function patternOf(path: string): RegExp {
  const source = path
    .split("/")
    .map((seg) => (seg.startsWith(":") ? "[^/]+" : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${source}$`);
}
