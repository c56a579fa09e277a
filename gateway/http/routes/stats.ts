// GET /v1/stats — `read`. The engines' answers summed (at most 1 s old, see engine-stats.ts),
// who owns which partition, and this gateway's feed.

import { TIERS } from "../../../proto/types.ts";
import { authorize } from "../../auth.ts";
import type { Authenticator } from "../authenticator.ts";
import type { HttpDeps } from "../deps.ts";
import { type EngineStatsSource, ownership } from "../engine-stats.ts";
import { jsonResponse } from "../errors.ts";
import type { RouteHandler } from "../observed.ts";

export function statsHandler(deps: HttpDeps, auth: Authenticator, engineStats: EngineStatsSource): RouteHandler {
  return async (c) => {
    authorize(await auth.principal(c.req.header("authorization")), "read");
    const replies = await engineStats.get();
    const membersPerTier: Record<string, number> = Object.fromEntries(TIERS.map((t) => [t, 0]));
    let eventsPerSec = 0;
    for (const r of replies) {
      eventsPerSec += r.eventsPerSec;
      for (const [tier, n] of Object.entries(r.membersPerTier)) membersPerTier[tier] = (membersPerTier[tier] ?? 0) + n;
    }
    const { owners, unowned, owned } = ownership(replies, deps.options.partitions);
    return jsonResponse(200, {
      membersPerTier,
      eventsPerSec,
      engines: replies.map((r) => ({
        engine: r.engine,
        partitions: r.partitions.map((p) => p.partition).sort((a, b) => a - b),
        eventsPerSec: r.eventsPerSec,
      })),
      partitions: { total: deps.options.partitions, owned, unowned, owners },
      gateway: deps.feedStats(),
    });
  };
}
