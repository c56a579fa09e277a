// GET /healthz, /readyz, /metrics — anyone (no credential; nothing about members).
// readyz: connected to NATS, and the engines (answers ≤ 1 s old) own every partition
// 0 … P−1 and have caught up with its log; otherwise 503 naming what is missing.

import type { HttpDeps } from "../deps.ts";
import { type EngineStatsSource, ownership, ranges } from "../engine-stats.ts";
import { errorResponse, jsonResponse } from "../errors.ts";
import type { RouteHandler } from "../observed.ts";

export const healthzHandler: RouteHandler = () => jsonResponse(200, { ok: true });

export function readyzHandler(deps: HttpDeps, engineStats: EngineStatsSource): RouteHandler {
  const notReady = (message: string) => errorResponse(503, "not_ready", message);
  return async () => {
    if (!deps.ready()) return notReady("not connected to NATS");
    let replies;
    try {
      replies = await engineStats.get();
    } catch (err) {
      return notReady((err as Error).message);
    }
    const total = deps.options.partitions;
    const { unowned, replaying } = ownership(replies, total);
    const missing: string[] = [];
    if (replies.length === 0) missing.push("no engine answered");
    else if (unowned.length > 0) missing.push(`partitions without an engine: ${ranges(unowned)}`);
    if (replaying.length > 0) missing.push(`partitions still replaying: ${ranges(replaying)}`);
    if (missing.length > 0) return notReady(missing.join("; "));
    return jsonResponse(200, { ok: true, engines: replies.length, partitions: total });
  };
}

export function metricsHandler(deps: HttpDeps): RouteHandler {
  return async () =>
    new Response(await deps.metrics.registry.metrics(), { headers: { "content-type": deps.metrics.registry.contentType } });
}
