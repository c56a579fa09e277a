// feed: many WebSocket members connected while orders flow; each probe order is timestamped at
// publish and its tier frame timed at the client — order → frame, end to end.

import { runLoad } from "../run/run-load.ts";
import { steadyProfile } from "../run/rate-profile.ts";
import type { Scenario } from "./scenario.ts";

export const feedScenario: Scenario = {
  name: "feed",
  summary: "many WebSocket members connected under a steady order load; order → tier frame latency end to end",
  flags: {},
  flagsHelp: "  (--connections members are connected: the probe members, then the population's most active)",
  defaults: { connections: 2000, rate: 5000 },
  localOnly: false,
  needsGateway: true,
  async run(ctx) {
    const load = await runLoad(ctx, steadyProfile(ctx.options.rate, ctx.options.durationS));
    const notes: string[] = [];
    if (load.feed !== null) {
      const f = load.feed;
      notes.push(
        `feed: ${f.opened} connections (${ctx.options.probeMembers} probe members, the rest the population's most active members); ` +
          `clients' clock − generator's ${f.skewMs.toFixed(3)} ms (± ${f.skewUncertaintyMs.toFixed(3)} ms), subtracted from every probe's latency; ` +
          `closes by code ${JSON.stringify(f.closesByCode)}`,
      );
    }
    return { load, checks: [], notes, settings: {} };
  },
};
