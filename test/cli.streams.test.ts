// `tierstream streams` against a real nats-server: shows, creates and resizes the streams.

import { describe, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { join } from "node:path";
import { STREAM_CLAIMS, STREAM_ORDERS, STREAM_ORDERS_DLQ, STREAM_TIER_EVENTS } from "../proto/names.ts";
import { useNatsServer } from "./harness/nats.ts";

const CLI = join(import.meta.dir, "..", "scripts", "cli.ts");
const NS_PER_S = 1e9;
const DAY_NS = 86_400 * NS_PER_S;

async function cli(args: string[], url: string): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn([process.execPath, CLI, "streams", ...args, "--nats", url], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

async function streamNames(url: string): Promise<string[]> {
  const nc = await connect({ servers: url });
  try {
    const names: string[] = [];
    for await (const name of (await jetstreamManager(nc)).streams.names()) names.push(name);
    return names.sort();
  } finally {
    await nc.close();
  }
}

describe("tierstream streams", () => {
  const nats = useNatsServer();

  test("without --apply it shows what is missing and creates nothing; with it, creates every stream with the sizing given", async () => {
    const shown = await cli(["--tier-events-days", "14"], nats.url);
    expect(shown.code).toBe(0);
    expect(shown.out).toContain("TIER_EVENTS  missing");
    expect(shown.out).toContain("would create with max_age 14 d, duplicate_window 600 s, num_replicas 1");
    expect(shown.out).toContain("--apply makes these changes");
    expect(await streamNames(nats.url)).toEqual([]);

    const applied = await cli(["--tier-events-days", "14", "--tier-dedup-window", "120", "--apply"], nats.url);
    expect(applied.code).toBe(0);
    expect(applied.out).toContain("created with max_age 14 d, duplicate_window 120 s");
    expect(await streamNames(nats.url)).toEqual([STREAM_CLAIMS, STREAM_ORDERS, STREAM_ORDERS_DLQ, STREAM_TIER_EVENTS].sort());
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    const tier = await jsm.streams.info(STREAM_TIER_EVENTS);
    expect(tier.config.max_age).toBe(14 * DAY_NS);
    expect(tier.config.duplicate_window).toBe(120 * NS_PER_S);
    expect((await jsm.streams.info(STREAM_ORDERS)).config.duplicate_window).toBe(120 * NS_PER_S);
    await nc.close();
  });

  test("on streams that exist it changes only what was asked, and keeps what they hold", async () => {
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    // Streams as the test above left them, and one message in TIER_EVENTS.
    await nc.request("tier.3.42", "{}");
    const ordersBefore = (await jsm.streams.info(STREAM_ORDERS)).config;

    const again = await cli(["--tier-dedup-window", "900"], nats.url);
    expect(again.out).toContain("would set duplicate_window: 120 s → 900 s");
    expect((await jsm.streams.info(STREAM_TIER_EVENTS)).config.duplicate_window).toBe(120 * NS_PER_S);

    const applied = await cli(["--tier-dedup-window", "900", "--apply"], nats.url);
    expect(applied.code).toBe(0);
    expect(applied.out).toContain("set duplicate_window: 120 s → 900 s");
    const tier = await jsm.streams.info(STREAM_TIER_EVENTS);
    expect(tier.config.duplicate_window).toBe(900 * NS_PER_S);
    expect(tier.config.max_age).toBe(14 * DAY_NS); // not asked: left as it was
    expect(tier.state.messages).toBe(1);
    expect((await jsm.streams.info(STREAM_ORDERS)).config).toEqual(ordersBefore);

    const nothing = await cli(["--apply"], nats.url);
    expect(nothing.out).not.toContain("set ");
    expect(nothing.out).toContain("TIER_EVENTS  1 messages");
    await nc.close();
  });

  test("a window below what the engine's resends need, or a retention below the contract's 7 days, is refused before anything is touched", async () => {
    const shortWindow = await cli(["--tier-dedup-window", "10", "--apply"], nats.url);
    expect(shortWindow.code).not.toBe(0);
    expect(shortWindow.err).toContain("--tier-dedup-window must be a number 60");
    const shortAge = await cli(["--tier-events-days", "3", "--apply"], nats.url);
    expect(shortAge.code).not.toBe(0);
    expect(shortAge.err).toContain("--tier-events-days must be a number 7");
    const fraction = await cli(["--tier-events-days", "7.5", "--apply"], nats.url);
    expect(fraction.code).not.toBe(0);
    expect(fraction.err).toContain("must be an integer");
    const nc = await connect({ servers: nats.url });
    expect((await (await jetstreamManager(nc)).streams.info(STREAM_TIER_EVENTS)).config.duplicate_window).toBe(900 * NS_PER_S);
    await nc.close();
  });
});
