// `tierstream verify`: the log, recomputed with the reference rules, against the engines and TIER_EVENTS.

import { connect } from "@nats-io/transport-node";
import { loadConfigFile } from "../../engine/config.ts";
import { parsePartitionSet } from "../../engine/partitions.ts";
import { verify } from "../verify.ts";
import { type Command, COMMON_FLAGS_HELP, natsUrlOf, numberFlag, parseFlags } from "./command.ts";

export const verifyCommand: Command = {
  name: "verify",
  summary: "recompute every member from ORDERS and compare with the engines and TIER_EVENTS",
  help: `usage: tierstream verify [flags]

Replays each partition's ORDERS log (up to its last message when verify starts) through the
reference implementation of the rules, then asks the owning engine for every member it found
and reads TIER_EVENTS. Prints each difference on a line and a summary; exits 1 when there is
any difference. Give it the engines' --config. Exact on a quiet stream; on a live one, orders
that arrive while it runs show up as differences.

flags:
${COMMON_FLAGS_HELP}
  --partitions SET    partitions to verify                [default all]
  --max-lines N       differences printed at most         [default 100]`,

  async run(argv) {
    const { flags } = parseFlags(argv, {
      nats: { type: "string" },
      config: { type: "string" },
      partitions: { type: "string" },
      "max-lines": { type: "string" },
    });
    const config = await loadConfigFile((flags.config as string | undefined) ?? process.env.TIERSTREAM_CONFIG);
    const partitions = parsePartitionSet(flags.partitions as string | undefined, config.partitions);
    const maxLines = numberFlag(flags, "max-lines", 100, 0, 1e9);
    const nc = await connect({ servers: natsUrlOf(flags.nats), name: "tierstream-verify" });
    try {
      const started = performance.now();
      const r = await verify(nc, config, partitions);
      for (const d of r.differences.slice(0, maxLines)) {
        console.log(`partition ${d.partition}${d.member !== undefined ? ` member ${d.member}` : ""}: ${d.what}`);
      }
      if (r.differences.length > maxLines) console.log(`… and ${r.differences.length - maxLines} more`);
      console.log(
        `verify: ${r.differences.length} differences — ${r.partitions} partitions, ${r.orderMessages} order messages, ` +
          `${r.members} members, ${r.tierChangesExpected} tier changes expected, ${r.tierChangesStored} stored ` +
          `(${((performance.now() - started) / 1000).toFixed(1)} s)`,
      );
      return r.differences.length === 0 ? 0 : 1;
    } finally {
      await nc.close();
    }
  },
};
