// `tierstream engine`: one engine process owning a set of partitions — a fixed set, or
// `auto` (leases; partitions spread over every live engine and move when one joins or leaves).
// `--workers N` runs N auto engine processes under this one, to use every core.

import { loadConfigFile } from "../../engine/config.ts";
import { AutoEngine } from "../../engine/auto-engine.ts";
import { Engine } from "../../engine/engine.ts";
import { consoleLogger } from "../../engine/log.ts";
import { parsePartitionSet } from "../../engine/partitions.ts";
import { type Command, COMMON_FLAGS_HELP, natsUrlOf, numberFlag, parseFlags, UsageError, untilSignal } from "./command.ts";
import { superviseWorkers } from "../workers.ts";

export const engineCommand: Command = {
  name: "engine",
  summary: "consume orders, keep member scores, publish tier changes, answer member reads, eligibility and claims",
  help: `usage: tierstream engine [flags]

Consumes orders.<p> from the ORDERS stream for the partitions it owns, applies the tier rules,
publishes tier changes to TIER_EVENTS and answers tierstream.member/elig/claim.<p> requests.
Creates the streams it needs when they are missing. SIGTERM or SIGINT drains and exits 0
(with auto: hands every partition off first, so the others take them at once).

flags:
${COMMON_FLAGS_HELP}
  --partitions SET    partitions this engine owns: all, 0-31, 0,5,7-9, or auto (leases in the
                      TIERSTREAM_LEASES bucket: spread over every live auto engine)
                                                     [env TIERSTREAM_PARTITIONS, default all]
  --workers N         run N auto engine processes under this one (implies --partitions auto) [default 1]
  --lease-ttl-ms N    auto: a dead engine's partitions are taken after about this long [default 5000]
  --replicas N        replicas for streams and buckets this engine creates [default 1]
  --name NAME         connection and service name; with auto, the engine id (unique per process!)
                                                     [default engine-<pid>; auto: <host>-<pid>-<random>]
  --snapshots DIR     write partition snapshots here and start from them [env TIERSTREAM_SNAPSHOTS;
                      default: none (replay the log); auto: the TIERSTREAM_SNAPSHOTS object store]`,

  async run(argv) {
    const { flags } = parseFlags(argv, {
      nats: { type: "string" },
      config: { type: "string" },
      partitions: { type: "string" },
      workers: { type: "string" },
      "lease-ttl-ms": { type: "string" },
      replicas: { type: "string" },
      name: { type: "string" },
      snapshots: { type: "string" },
    });
    const workers = numberFlag(flags, "workers", 1, 1, 256);
    const spec = (flags.partitions as string | undefined) ?? process.env.TIERSTREAM_PARTITIONS;
    if (workers > 1) {
      if (spec !== undefined && spec !== "auto") throw new UsageError("--workers needs --partitions auto (or no --partitions)");
      if (flags.name !== undefined) throw new UsageError("--workers names its workers itself; leave out --name");
      const passOn = argv.filter((a, i) => !/^--workers(=|$)/.test(a) && !/^--workers$/.test(argv[i - 1] ?? "") && !/^--partitions(=|$)/.test(a) && !/^--partitions$/.test(argv[i - 1] ?? ""));
      return superviseWorkers(workers, [...passOn, "--partitions", "auto"], consoleLogger("engine"));
    }
    const config = await loadConfigFile((flags.config as string | undefined) ?? process.env.TIERSTREAM_CONFIG);
    const log = consoleLogger("engine");
    const natsUrl = natsUrlOf(flags.nats);
    const common = {
      natsUrl,
      config,
      log,
      replicas: numberFlag(flags, "replicas", 1, 1, 5),
      name: flags.name as string | undefined,
      snapshotDir: (flags.snapshots as string | undefined) ?? process.env.TIERSTREAM_SNAPSHOTS,
    };
    const startedMs = Date.now();
    if (spec === "auto") {
      const leaseTtlMs = flags["lease-ttl-ms"] === undefined ? undefined : numberFlag(flags, "lease-ttl-ms", 5000, 500, 600_000);
      const auto = await withStartRetries(() => AutoEngine.start({ ...common, leaseTtlMs }), log).catch((err: Error) => {
        throw new Error(`cannot start the engine on ${natsUrl}: ${err.message}`);
      });
      log.info(`engine ${auto.id}: partitions by lease`);
      const signal = await untilSignal();
      log.info(`${signal}: handing off partitions and draining`);
      await auto.stop({ handoff: true });
      log.info("stopped");
      return 0;
    }
    const owned = parsePartitionSet(spec, config.partitions);
    const engine = await withStartRetries(() => Engine.start({ ...common, partitions: owned }), log).catch((err: Error) => {
      throw new Error(`cannot start the engine on ${natsUrl}: ${err.message}`);
    });
    void engine.whenCaughtUp().then(() => log.info(`caught up in ${Date.now() - startedMs} ms; ready`));
    const signal = await untilSignal();
    log.info(`${signal}: draining`);
    await engine.stop();
    log.info("stopped");
    return 0;
  },
};

const START_ATTEMPTS = 4;

/**
 * A JetStream API timeout or "not enabled" while starting (a cluster electing leaders, streams
 * and buckets being created with replicas by several engines at once) is worth another try; anything else — and the last timeout — is the
 * one-line reason the process cannot start.
 */
async function withStartRetries<T>(start: () => Promise<T>, log: { warn(m: string): void }): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      const transient = /timeout|jetstream is not enabled|already in use|no responders/i.test(String((err as Error)?.message)) || (err as Error)?.name === "TimeoutError";
      if (!transient || attempt >= START_ATTEMPTS) throw err;
      log.warn(`start attempt ${attempt} failed (${(err as Error).message}); trying again`);
      await Bun.sleep(1000 * attempt);
    }
  }
}
