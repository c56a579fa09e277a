// spike: the festival midnight — the base rate, a ramp to N × in seconds, held, and back down.

import { numberFlag, UsageError } from "../../scripts/commands/command.ts";
import { runLoad } from "../run/run-load.ts";
import { spikeProfile, type SpikeShape } from "../run/rate-profile.ts";
import type { Scenario } from "./scenario.ts";
import type { Flags } from "../../scripts/commands/command.ts";
import type { LoadtestOptions } from "../run/options.ts";

function shape(flags: Flags, o: LoadtestOptions): SpikeShape {
  return {
    baseRate: o.rate,
    factor: numberFlag(flags, "spike-factor", 5, 1, 1000),
    rampS: numberFlag(flags, "ramp-s", 5, 0, 3600),
    holdS: numberFlag(flags, "hold-s", 10, 0, 86_400),
    durationS: o.durationS,
  };
}

export const spikeScenario: Scenario = {
  name: "spike",
  summary: "the festival midnight: base rate, a ramp to --spike-factor × in --ramp-s, held --hold-s, then down",
  flags: { "spike-factor": { type: "string" }, "ramp-s": { type: "string" }, "hold-s": { type: "string" } },
  flagsHelp: `  --spike-factor N    the peak is N × --rate                              [default 5]
  --ramp-s S          seconds of the ramp up (and of the ramp down)       [default 5]
  --hold-s S          seconds held at the peak                            [default 10]
  (the spike sits in the middle of --duration, default 40 s for spike)`,
  defaults: { durationS: 40 },
  localOnly: false,
  needsGateway: false,
  validate(flags, o) {
    const s = shape(flags, o);
    if (2 * s.rampS + s.holdS > s.durationS) throw new UsageError(`the spike (2 × --ramp-s ${s.rampS} + --hold-s ${s.holdS}) does not fit in --duration ${s.durationS}`);
  },
  async run(ctx) {
    const s = shape(ctx.flags, ctx.options);
    const load = await runLoad(ctx, spikeProfile(s));
    return { load, checks: [], notes: [`spike: ${s.baseRate.toLocaleString("en-US")} → ${(s.baseRate * s.factor).toLocaleString("en-US")} orders/s (×${s.factor}), ramps of ${s.rampS} s, held ${s.holdS} s`], settings: { ...s } };
  },
};
