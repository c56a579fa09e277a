// `tierstream demo`: a local NATS, an engine, and an order simulator; prints tier changes
// as they happen and a status line every few seconds.

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { loadConfigFile } from "../../engine/config.ts";
import { Engine } from "../../engine/engine.ts";
import { consoleLogger } from "../../engine/log.ts";
import { memberView } from "../../engine/member-view.ts";
import { OrderGenerator } from "../../loadtest/population.ts";
import { encodeOrders, ensureStreams, type Order, ordersSubject, partitionOf, TIERS } from "../../proto/index.ts";
import { randomBytes } from "node:crypto";
import { GATEWAY_DEFAULTS } from "../../gateway/config.ts";
import { Gateway } from "../../gateway/gateway.ts";
import { startNatsServer } from "../nats-server.ts";
import { memberToken } from "./token.ts";
import { putBenefitDefinition } from "../benefit-admin.ts";
import { type Command, natsUrlOf, numberFlag, parseFlags, untilSignal } from "./command.ts";

const PUBLISH_INTERVAL_MS = 100;
const STATUS_INTERVAL_MS = 5000;
const CHANGES_SHOWN_PER_SECOND_MAX = 20;
/** The demo's flash drop: opens a minute after start, for platinum and up. */
const DROP_ID = "milk-tea";
const DROP_CLAIMANTS = 2000;

export const demoCommand: Command = {
  name: "demo",
  summary: "start NATS, an engine, a gateway and simulated orders; watch tiers move live",
  help: `usage: tierstream demo [flags]

Starts a local nats-server (JetStream in a temporary folder), an engine owning every
partition, a gateway (WebSocket feed + HTTP API; prints a member token and an admin key),
and a simulator publishing orders from a realistic population: popular and quiet
members (Zipf), five business lines, log-normal amounts, a few refunds. Prints each tier
change as it happens and a status line every 5 s. A flash drop ("milk-tea": platinum and up,
1000 units, one each, 30 minutes) opens a minute after start (--drop-in); a simulated promotion system
then claims it for the ${DROP_CLAIMANTS} most active members through the gateway, and the
status line follows what is left. Ctrl-C stops everything and cleans up.

flags:
  --rate N            orders per second                       [default 2000]
  --members N         members in the simulated population     [default 20000]
  --seconds N         stop after N seconds (0: run until Ctrl-C) [default 0]
  --seed N            simulator seed                          [default 1]
  --drop-in N         seconds until the flash drop opens      [default 60]
  --port N            gateway port (0: any free port)         [default 8080]
  --nats URL          use this NATS server instead of starting one [env NATS_URL]
  --config FILE       engine rules (JSON)                     [env TIERSTREAM_CONFIG]`,

  async run(argv) {
    const { flags } = parseFlags(argv, {
      rate: { type: "string" },
      members: { type: "string" },
      seconds: { type: "string" },
      seed: { type: "string" },
      nats: { type: "string" },
      config: { type: "string" },
      port: { type: "string" },
      "drop-in": { type: "string" },
    });
    const dropOpensAfterMs = numberFlag(flags, "drop-in", 60, 0, 86_400) * 1000;
    const ratePerSec = numberFlag(flags, "rate", 2000, 1, 1_000_000);
    const members = numberFlag(flags, "members", 20_000, 1, 100_000_000);
    const seconds = numberFlag(flags, "seconds", 0, 0, 86_400);
    const seed = numberFlag(flags, "seed", 1, 0, 2 ** 32 - 1);
    const config = await loadConfigFile((flags.config as string | undefined) ?? process.env.TIERSTREAM_CONFIG);

    const server = flags.nats || process.env.NATS_URL ? null : await startNatsServer();
    const natsUrl = server?.url ?? natsUrlOf(flags.nats);
    console.log(`NATS_URL=${natsUrl}${server ? `   (JetStream in ${server.storeDir})` : ""}`);

    const engine = await Engine.start({ natsUrl, config, log: consoleLogger("engine") });
    await engine.whenCaughtUp();

    // A gateway with a fresh secret and an admin key for this run.
    const jwtSecret = randomBytes(24).toString("base64url");
    const adminKey = `demo-admin-${randomBytes(9).toString("base64url")}`;
    const gateway = await Gateway.start(
      {
        ...GATEWAY_DEFAULTS,
        natsUrl,
        port: numberFlag(flags, "port", GATEWAY_DEFAULTS.port, 0, 65535),
        jwtSecret,
        apiKeys: new Map([[adminKey, new Set(["admin"] as const)]]),
        partitions: config.partitions,
        lines: config.lineNames,
        name: "demo-gateway",
      },
      consoleLogger("gateway"),
    );
    const nc = await connect({ servers: natsUrl, name: "tierstream-demo" });
    await ensureStreams(await jetstreamManager(nc));
    const js = jetstream(nc);

    // Tier changes, live from the subjects the engine publishes them on.
    let shownThisSecond = 0;
    let hiddenChanges = 0;
    const showReset = setInterval(() => {
      if (hiddenChanges > 0) console.log(`  … and ${hiddenChanges} more tier changes in the last second`);
      shownThisSecond = hiddenChanges = 0;
    }, 1000);
    const sub = nc.subscribe("tier.>");
    void (async () => {
      for await (const m of sub) {
        const c = m.json() as { member: number; from: string; to: string; score: number; cause: string };
        if (shownThisSecond++ >= CHANGES_SHOWN_PER_SECOND_MAX) {
          hiddenChanges++;
          continue;
        }
        const arrow = TIERS.indexOf(c.to as never) > TIERS.indexOf(c.from as never) ? "▲" : "▼";
        console.log(`${arrow} member ${String(c.member).padStart(9)}  ${c.from.padEnd(13)} → ${c.to.padEnd(13)} score ${String(c.score).padStart(6)}  (${c.cause})`);
      }
    })();

    // The simulator: event time follows the wall clock.
    const generator = new OrderGenerator({ seed, members, startTs: Date.now(), ratePerSec });
    const star = generator.memberOfRank(1);
    const token = await memberToken(star, jwtSecret, 24 * 3600);
    const wsUrl = `ws://127.0.0.1:${gateway.port}/v1/feed`;
    console.log(
      [
        "",
        `gateway   ${gateway.url}`,
        `admin key ${adminKey}`,
        `member ${star} (the most active) token:`,
        `  ${token}`,
        "watch that member's live feed from another terminal:",
        `  npm run -s tierstream -- feed --url ${wsUrl} --token ${token}`,
        "read it over HTTP:",
        `  curl -H 'Authorization: Bearer ${adminKey}' ${gateway.url}/v1/members/${star}`,
        `  curl -H 'Authorization: Bearer ${adminKey}' ${gateway.url}/v1/stats`,
        "",
      ].join("\n"),
    );
    // The flash drop, and a promotion system claiming it at the opening second.
    const dropOpensAt = Date.now() + dropOpensAfterMs;
    await putBenefitDefinition(nc, {
      id: DROP_ID,
      title: "Free milk tea card",
      minTier: "platinum",
      startsAt: dropOpensAt,
      endsAt: dropOpensAt + 30 * 60_000,
      inventory: 1000,
      perMember: 1,
    }, undefined, config.partitions);
    console.log(
      [
        `flash drop "${DROP_ID}" (platinum and up, 1000 units) opens at ${new Date(dropOpensAt).toISOString()}; members watching the feed get a benefit frame. Claim by hand:`,
        `  curl -X POST -H 'Authorization: Bearer ${adminKey}' -H 'Idempotency-Key: demo-1' -d '{"member": ${star}}' ${gateway.url}/v1/benefits/${DROP_ID}/claims`,
        "",
      ].join("\n"),
    );
    const dropTimer = setTimeout(async () => {
      const outcomes = new Map<string, number>();
      const claimOne = async (member: number) => {
        const res = await fetch(`${gateway.url}/v1/benefits/${DROP_ID}/claims`, {
          method: "POST",
          headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json", "idempotency-key": `demo-drop-${member}` },
          body: JSON.stringify({ member }),
        });
        const body = (await res.json()) as { error?: { code: string } };
        const outcome = res.status === 201 ? "claimed" : (body.error?.code ?? String(res.status));
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      };
      const claimants = Array.from({ length: Math.min(DROP_CLAIMANTS, members) }, (_, i) => generator.memberOfRank(i + 1));
      await Promise.all(claimants.map((m) => claimOne(m).catch(() => outcomes.set("error", (outcomes.get("error") ?? 0) + 1))));
      console.log(`flash drop "${DROP_ID}" opened: ${claimants.length} members tried — ${[...outcomes].map(([k, n]) => `${n} ${k}`).join(", ")}`);
    }, dropOpensAfterMs + 100);

    let published = 0;
    let publishing = false;
    const startedMs = Date.now();
    const publisher = setInterval(async () => {
      if (publishing) return; // the last round is still waiting for acks: skip, do not pile up
      publishing = true;
      const due = Math.floor(((Date.now() - startedMs) * ratePerSec) / 1000) - published;
      const byPartition = new Map<number, Order[]>();
      for (let i = 0; i < due; i++) {
        const o = generator.next();
        const p = partitionOf(o.member, config.partitions);
        let batch = byPartition.get(p);
        if (!batch) byPartition.set(p, (batch = []));
        batch.push(o);
      }
      await Promise.all([...byPartition].map(([p, batch]) => js.publish(ordersSubject(p), encodeOrders(batch))));
      published += due;
      publishing = false;
    }, PUBLISH_INTERVAL_MS);

    let lastApplied = 0;
    const status = setInterval(() => {
      const perTier = new Array<number>(TIERS.length).fill(0);
      let memberCount = 0;
      for (const r of engine.runners.values()) {
        memberCount += r.state.memberCount;
        for (let i = 0; i < r.state.memberCount; i++) perTier[r.state.tier[i]]++;
      }
      const applied = engine.counters.eventsApplied;
      const rate = Math.round(((applied - lastApplied) * 1000) / STATUS_INTERVAL_MS);
      lastApplied = applied;
      const tiers = TIERS.map((t, i) => `${t} ${perTier[i]}`).join(", ");
      console.log(`— ${rate} orders/s applied, ${memberCount} members (${tiers}), ${engine.counters.tierChanges} tier changes, ${engine.counters.deadLetters} dead letters`);
      void fetch(`${gateway.url}/v1/benefits/${DROP_ID}`, { headers: { authorization: `Bearer ${adminKey}` } })
        .then((r) => r.json() as Promise<{ claimed: number; remaining: number }>)
        .then((d) => {
          const opensInSec = Math.ceil((dropOpensAt - Date.now()) / 1000);
          console.log(`  drop ${DROP_ID}: ${opensInSec > 0 ? `opens in ${opensInSec} s` : `${d.claimed} claimed, ${d.remaining} left`}`);
        })
        .catch(() => {});
      const runner = engine.runners.get(partitionOf(star, config.partitions));
      if (runner) {
        const v = memberView(runner.state, star, runner.tierSeq);
        console.log(`  most active member ${star}: ${v.tier}, score ${v.score}, lines ${JSON.stringify(v.lines)}`);
      }
    }, STATUS_INTERVAL_MS);

    const stopAfter = seconds > 0 ? Bun.sleep(seconds * 1000).then(() => "time") : new Promise<string>(() => {});
    const why = await Promise.race([untilSignal(), stopAfter]);
    console.log(`stopping (${why})`);
    for (const t of [publisher, status, showReset]) clearInterval(t);
    clearTimeout(dropTimer);
    while (publishing) await Bun.sleep(10);
    await gateway.stop();
    await engine.stop();
    sub.unsubscribe();
    await nc.close();
    await server?.cleanup();
    return 0;
  },
};
