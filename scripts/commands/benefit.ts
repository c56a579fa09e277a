// `tierstream benefit put|get|list`: operators define and inspect flash benefits.

import { readFileSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { loadConfigFile } from "../../engine/config.ts";
import { TIERS } from "../../proto/types.ts";
import { BenefitDefinitionError, putBenefitDefinition, readBenefitStates } from "../benefit-admin.ts";
import { type Command, natsUrlOf, parseFlags, UsageError } from "./command.ts";

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function durationMs(raw: string, flag: string): number {
  const m = DURATION.exec(raw);
  if (!m) throw new UsageError(`--${flag} must be a duration like 90s, 30m, 2h, got "${raw}"`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

/** A time: epoch ms, an ISO date, or "+<duration>" from now. */
function timeMs(raw: string, flag: string, now: number): number {
  if (raw.startsWith("+")) return now + durationMs(raw.slice(1), flag);
  if (/^\d+$/.test(raw)) return Number(raw);
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw new UsageError(`--${flag} must be epoch ms, an ISO time or +<duration>, got "${raw}"`);
  return t;
}

function oddsOf(raw: string): Record<string, number> {
  const odds: Record<string, number> = {};
  for (const part of raw.split(",")) {
    const [tier, p] = part.split("=");
    odds[tier.trim()] = Number(p);
  }
  return odds;
}

const FLAGS = {
  nats: { type: "string" },
  config: { type: "string" },
  file: { type: "string" },
  id: { type: "string" },
  title: { type: "string" },
  "min-tier": { type: "string" },
  starts: { type: "string" },
  ends: { type: "string" },
  duration: { type: "string" },
  inventory: { type: "string" },
  "per-member": { type: "string" },
  odds: { type: "string" },
} as const;

export const benefitCommand: Command = {
  name: "benefit",
  summary: "define (put), show (get) and list flash benefits",
  help: `usage: tierstream benefit put (--file FILE.json | --id ID --title T --min-tier TIER --starts TIME (--ends TIME | --duration D) [--inventory N|unlimited] [--per-member N] [--odds tier=p,…])
       tierstream benefit get ID
       tierstream benefit list

Definitions go to the BENEFITS KV bucket, validated as PUT /v1/benefits/:id validates them
(a window that ends before it starts, odds outside 0…1, an unknown tier … are refused with
the reason). Every engine sees a change within a second. get and list print the definitions
with claimed and remaining (counted from CLAIMS) as JSON.

  --nats URL        [env NATS_URL, default nats://127.0.0.1:4222]
  --config FILE     the deployment's rules, for its partition count [env TIERSTREAM_CONFIG]
  --file FILE       a JSON definition (CONTRACT.md "Flash benefits"); "-" reads stdin
  --min-tier TIER   ${TIERS.join(" | ")}
  --starts TIME     epoch ms, an ISO time, or +DURATION from now (e.g. +1m)
  --ends TIME       as --starts; or --duration D (e.g. 30m) after the start
  --inventory N     units in all (default unlimited)
  --per-member N    claims per member (default 1)
  --odds LIST       a draw: tier=probability for every tier from --min-tier up`,

  async run(argv) {
    const { flags, positionals } = parseFlags(argv, FLAGS, true);
    const [verb, id] = positionals;
    if (verb !== "put" && verb !== "get" && verb !== "list") throw new UsageError("benefit needs put, get ID or list (see --help)");
    const nc = await connect({ servers: natsUrlOf(flags.nats), name: "tierstream-benefit" });
    try {
      if (verb === "put") {
        const now = Date.now();
        let input: Record<string, unknown>;
        if (flags.file !== undefined) {
          const text = flags.file === "-" ? await Bun.stdin.text() : readFileSync(flags.file as string, "utf8");
          try {
            input = JSON.parse(text) as Record<string, unknown>;
          } catch {
            throw new UsageError(`${flags.file} is not JSON`);
          }
        } else {
          if (flags.starts === undefined) throw new UsageError("put needs --starts (or --file)");
          const startsAt = timeMs(flags.starts as string, "starts", now);
          const endsAt =
            flags.ends !== undefined ? timeMs(flags.ends as string, "ends", now) : flags.duration !== undefined ? startsAt + durationMs(flags.duration as string, "duration") : undefined;
          input = {
            id: flags.id,
            title: flags.title,
            minTier: flags["min-tier"],
            startsAt,
            endsAt,
            inventory: flags.inventory === undefined || flags.inventory === "unlimited" ? null : Number(flags.inventory),
            perMember: flags["per-member"] === undefined ? 1 : Number(flags["per-member"]),
            ...(flags.odds !== undefined ? { odds: oddsOf(flags.odds as string) } : {}),
          };
        }
        try {
          const { partitions } = await loadConfigFile((flags.config as string | undefined) ?? process.env.TIERSTREAM_CONFIG);
          const { benefit, replaced } = await putBenefitDefinition(nc, input, id, partitions);
          console.log(JSON.stringify(benefit));
          console.error(`${replaced ? "replaced" : "created"} benefit ${benefit.id}`);
        } catch (err) {
          if (err instanceof BenefitDefinitionError) throw new UsageError(`bad benefit: ${err.message}`);
          throw err;
        }
        return 0;
      }
      if (verb === "get") {
        if (id === undefined) throw new UsageError("get needs a benefit id");
        const [state] = await readBenefitStates(nc, id);
        if (!state) {
          console.error(`no benefit "${id}"`);
          return 1;
        }
        console.log(JSON.stringify(state, null, 2));
        return 0;
      }
      for (const s of await readBenefitStates(nc)) console.log(JSON.stringify(s));
      return 0;
    } finally {
      await nc.close();
    }
  },
};
