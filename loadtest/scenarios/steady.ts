// steady: orders at a fixed rate from the realistic population, for the whole run.

import { runLoad } from "../run/run-load.ts";
import { steadyProfile } from "../run/rate-profile.ts";
import type { Scenario } from "./scenario.ts";

export const steadyScenario: Scenario = {
  name: "steady",
  summary: "orders at a fixed rate from the realistic population (Zipf members, line mix, log-normal amounts, refunds, late orders)",
  flags: {},
  flagsHelp: "",
  defaults: {},
  localOnly: false,
  needsGateway: false,
  async run(ctx) {
    const load = await runLoad(ctx, steadyProfile(ctx.options.rate, ctx.options.durationS));
    return { load, checks: [], notes: [], settings: {} };
  },
};
