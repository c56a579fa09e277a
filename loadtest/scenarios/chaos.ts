// chaos: the steady load while engine processes the run started are SIGKILLed and restarted;
// then, once they have caught up, the verifier (scripts/verify.ts) recomputes every member
// from ORDERS — any difference fails the run (exit 4).

import { connect } from "@nats-io/transport-node";
import { numberFlag, UsageError } from "../../scripts/commands/command.ts";
import { verify, type VerifyReport } from "../../scripts/verify.ts";
import { Rng } from "../random.ts";
import { waitEnginesReady } from "../run/engine-stats.ts";
import { runLoad } from "../run/run-load.ts";
import { steadyProfile } from "../run/rate-profile.ts";
import type { Check, Scenario } from "./scenario.ts";

const CATCH_UP_DEADLINE_MS = 120_000;
/** A live stream shows orders stored after verify's cut as differences: verify again, this often. */
const VERIFY_ATTEMPTS = 20;
const VERIFY_RETRY_MS = 1000;
const DIFFERENCES_SHOWN = 10;

export const chaosScenario: Scenario = {
  name: "chaos",
  summary: "steady load while it SIGKILLs and restarts the engine processes it started, then runs the verifier",
  flags: { "kill-every-s": { type: "string" }, "down-ms": { type: "string" } },
  flagsHelp: `  --kill-every-s S    SIGKILL one engine process (seeded choice) every S s  [default 5]
  --down-ms MS        how long a killed engine stays down                   [default 500]
  (local stack only; --engines defaults to 2)`,
  defaults: { engines: 2, rate: 5000 },
  localOnly: true,
  needsGateway: false,
  validate(flags) {
    numberFlag(flags, "kill-every-s", 5, 1, 86_400);
    numberFlag(flags, "down-ms", 500, 0, 600_000);
  },
  async run(ctx) {
    const stack = ctx.target.local;
    if (stack === null) throw new UsageError("chaos kills engine processes it started: it runs only on the local stack (no --nats)");
    const killEveryS = numberFlag(ctx.flags, "kill-every-s", 5, 1, 86_400);
    const downMs = numberFlag(ctx.flags, "down-ms", 500, 0, 600_000);
    const rng = new Rng(ctx.options.seed);
    const restarts: Promise<void>[] = [];
    let kills = 0;
    const load = await runLoad(ctx, steadyProfile(ctx.options.rate, ctx.options.durationS), {
      async onSecond(second, event) {
        if (second % killEveryS !== 0 || second >= ctx.options.durationS) return;
        const up = stack.engines.filter((e) => e.running);
        if (up.length === 0) return;
        const victim = up[rng.intBetween(0, up.length - 1)];
        const pid = victim.pid;
        await victim.kill();
        kills++;
        event(`SIGKILL engine ${victim.index} (pid ${pid}, partitions ${victim.partitions})`);
        restarts.push(
          Bun.sleep(downMs).then(() => {
            victim.start();
            event(`restart engine ${victim.index} (pid ${victim.pid})`);
          }),
        );
      },
    });
    await Promise.all(restarts);
    if (ctx.interrupted.aborted) {
      return { load, checks: [{ name: "verify", pass: false, detail: "not run: the run was interrupted" }], notes: [], settings: { killEveryS, downMs, kills } };
    }

    ctx.log(`chaos: ${kills} kills; waiting for the engines to catch up, then verify`);
    const nc = await connect({ servers: ctx.target.natsUrl, name: "tierstream-loadtest-verify" });
    let report: VerifyReport | null = null;
    const t0 = performance.now();
    try {
      await waitEnginesReady(nc, ctx.config.partitions, CATCH_UP_DEADLINE_MS);
      const partitions = Array.from({ length: ctx.config.partitions }, (_, p) => p);
      for (let attempt = 1; attempt <= VERIFY_ATTEMPTS; attempt++) {
        report = await verify(nc, ctx.config, partitions);
        if (report.differences.length === 0) break;
        ctx.log(`chaos: verify attempt ${attempt}: ${report.differences.length} differences; again in ${VERIFY_RETRY_MS} ms`);
        await Bun.sleep(VERIFY_RETRY_MS);
      }
    } finally {
      await nc.close();
    }
    const r = report!;
    const verifyS = (performance.now() - t0) / 1000;
    const pass = r.differences.length === 0;
    const check: Check = {
      name: "verify",
      pass,
      detail:
        `${r.differences.length} differences — ${r.members.toLocaleString("en-US")} members, ${r.orderMessages.toLocaleString("en-US")} order messages, ` +
        `${r.tierChangesExpected.toLocaleString("en-US")} tier changes expected, ${r.tierChangesStored.toLocaleString("en-US")} stored (${verifyS.toFixed(1)} s)` +
        (pass ? "" : `; first: ${r.differences.slice(0, DIFFERENCES_SHOWN).map((d) => `p${d.partition}${d.member !== undefined ? ` m${d.member}` : ""}: ${d.what}`).join(" | ")}`),
    };
    if (kills === 0) return { load, checks: [check, { name: "kills", pass: false, detail: `no engine was killed: --duration must exceed --kill-every-s` }], notes: [], settings: { killEveryS, downMs } };
    return { load, checks: [check], notes: [`chaos: ${kills} SIGKILLs of ${stack.engines.length} engine processes, each down ${downMs} ms; verify after the engines caught up`], settings: { killEveryS, downMs, kills } };
  },
};
