// drop: a flash benefit opening to many connected members who all claim at once. Measures who
// was told and how fast, claim latency and claims/s; checks that exactly min(inventory,
// demand) units were won, nobody beyond --per-member, CLAIMS agreeing with the answers, and
// the same Idempotency-Key answered the same (loadtest/run/drop-run.ts; a failed check exits 4).

import { UsageError } from "../../scripts/commands/command.ts";
import { dropApiKey, DROP_FLAGS, DROP_FLAGS_HELP, dropSettings } from "../run/drop-options.ts";
import { runDrop } from "../run/drop-run.ts";
import type { Scenario } from "./scenario.ts";

export const dropScenario: Scenario = {
  name: "drop",
  summary: "a flash benefit opens to --connections feed members and --claimants claim at once; checks the units won, the per-member limit, CLAIMS and retries",
  flags: DROP_FLAGS,
  flagsHelp: DROP_FLAGS_HELP,
  defaults: { connections: 1000 },
  localOnly: false,
  needsGateway: true,
  validate(flags, o) {
    dropSettings(flags, o);
    if (o.natsUrl !== null && dropApiKey(flags, null) === null) throw new UsageError("drop against a deployment needs a gateway key with the read and claim scopes: --api-key or TIERSTREAM_LOADTEST_API_KEY");
  },
  async run(ctx) {
    const apiKey = dropApiKey(ctx.flags, ctx.target.local?.claimKey ?? null);
    if (apiKey === null) throw new UsageError("drop needs a gateway key with the read and claim scopes (--api-key)");
    return runDrop(ctx, dropSettings(ctx.flags, ctx.options), apiKey);
  },
};
