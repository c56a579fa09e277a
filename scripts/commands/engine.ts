// `tierstream engine`: one engine process owning a set of partitions.

import { loadConfigFile } from "../../engine/config.ts";
import { Engine } from "../../engine/engine.ts";
import { consoleLogger } from "../../engine/log.ts";
import { parsePartitionSet } from "../../engine/partitions.ts";
import { type Command, COMMON_FLAGS_HELP, natsUrlOf, numberFlag, parseFlags, untilSignal } from "./command.ts";

export const engineCommand: Command = {
  name: "engine",
  summary: "consume orders, keep member scores, publish tier changes, answer member reads",
  help: `usage: tierstream engine [flags]

Consumes orders.<p> from the ORDERS stream for the partitions it owns, applies the tier rules,
publishes tier changes to TIER_EVENTS and answers tierstream.member.<p> requests. Creates the
streams it needs when they are missing. SIGTERM or SIGINT drains and exits 0.

flags:
${COMMON_FLAGS_HELP}
  --partitions SET    partitions this engine owns: all, 0-31, 0,5,7-9  [env TIERSTREAM_PARTITIONS, default all]
  --replicas N        replicas for streams this engine creates        [default 1]
  --name NAME         connection and service name                      [default engine-<pid>]
  --snapshots DIR     write partition snapshots here and start from them [env TIERSTREAM_SNAPSHOTS; default: none, replay the log]`,

  async run(argv) {
    const { flags } = parseFlags(argv, {
      nats: { type: "string" },
      config: { type: "string" },
      partitions: { type: "string" },
      replicas: { type: "string" },
      name: { type: "string" },
      snapshots: { type: "string" },
    });
    const config = await loadConfigFile((flags.config as string | undefined) ?? process.env.TIERSTREAM_CONFIG);
    const owned = parsePartitionSet((flags.partitions as string | undefined) ?? process.env.TIERSTREAM_PARTITIONS, config.partitions);
    const log = consoleLogger("engine");
    const natsUrl = natsUrlOf(flags.nats);
    const engine = await Engine.start({
      natsUrl,
      config,
      partitions: owned,
      log,
      replicas: numberFlag(flags, "replicas", 1, 1, 5),
      name: flags.name as string | undefined,
      snapshotDir: (flags.snapshots as string | undefined) ?? process.env.TIERSTREAM_SNAPSHOTS,
    }).catch((err: Error) => {
      throw new Error(`cannot start the engine on ${natsUrl}: ${err.message}`);
    });
    const startedMs = Date.now();
    void engine.whenCaughtUp().then(() => log.info(`caught up in ${Date.now() - startedMs} ms; ready`));
    const signal = await untilSignal();
    log.info(`${signal}: draining`);
    await engine.stop();
    log.info("stopped");
    return 0;
  },
};
