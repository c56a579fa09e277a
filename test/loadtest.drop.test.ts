// `tierstream loadtest drop`: a flash benefit opening to connected members who all claim at
// once — end to end on the local stack (the counts in result.json, exit 0), and the checks
// on fabricated figures: an oversell, a member over its limit, CLAIMS disagreeing with the
// answers or a retry answered differently each fail the run (exit 4).

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DropFigures, dropChecks } from "../loadtest/run/drop-checks.ts";
import { dropRows } from "../loadtest/run/drop-summary.ts";
import { redactArgv } from "../loadtest/run/main.ts";
import { buildResult, EXIT, type LoadtestResult } from "../loadtest/run/result.ts";
import { SYNTHETIC_MACHINE, syntheticOptions, syntheticOutcome } from "./harness/loadtest-result.ts";

const CLI = join(import.meta.dir, "..", "scripts", "cli.ts");
const dir = mkdtempSync(join(tmpdir(), "tierstream-loadtest-drop-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function loadtest(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, CLI, "loadtest", ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, TIERSTREAM_CONFIG: "", NATS_URL: "", TIERSTREAM_LOADTEST_API_KEY: "" },
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** A drop that went right: 400 claimants for 150 units, 200 of them connected and told. */
function figures(): DropFigures {
  return {
    benefit: "drop-1",
    minTier: "bronze",
    inventory: 150,
    perMember: 1,
    claimants: 400,
    demand: 400,
    tiers: null,
    feed: { connected: 200, eligible: 200, told: 200, toldIneligible: 0, allToldMs: 30, closed: 200, closedByReason: { sold_out: 200 }, expectedClose: "sold_out" },
    claims: {
      sent: 400,
      answered: 400,
      unanswered: 0,
      won: 150,
      byStatus: { "201 won": 150, "410 sold_out": 250 },
      transientRetries: 0,
      stormMs: 400,
      perSec: 1000,
      firstError: null,
      maxWonByMember: 1,
      membersOverLimit: 0,
    },
    repeats: { sent: 20, same: 20, unanswered: 0, differing: [] },
    beyond: { sent: 8, byStatus: { "409 already_claimed": 8 }, unanswered: 0 },
    stream: { records: 408, won: 150, byOutcome: { won: 150, sold_out: 250, already_claimed: 8 }, maxWonByMember: 1, membersOverLimit: 0, scanned: 408, ms: 10 },
    streamError: null,
  };
}

const failed = (f: DropFigures) => dropChecks(f).filter((c) => !c.pass).map((c) => c.name);

describe("drop checks", () => {
  test("a drop that went right passes every check", () => {
    const checks = dropChecks(figures());
    expect(checks.map((c) => c.name)).toEqual(["units won", "per member", "CLAIMS", "same key"]);
    expect(checks.every((c) => c.pass)).toBe(true);
  });

  test("an oversell fails: more 201s than inventory, and CLAIMS holding them too", () => {
    const f = figures();
    f.claims.won = 152;
    f.claims.byStatus = { "201 won": 152, "410 sold_out": 248 };
    f.stream!.won = 152;
    const checks = dropChecks(f);
    expect(failed(f)).toEqual(["units won", "CLAIMS"]);
    expect(checks[0].detail).toContain("OVERSOLD by 2");
    expect(checks[2].detail).toContain("OVERSOLD by 2");
  });

  test("an oversell seen only in CLAIMS (a won record no answer told of) fails", () => {
    const f = figures();
    f.stream!.won = 151;
    expect(failed(f)).toEqual(["CLAIMS"]);
  });

  test("units left unsold while members were refused fail", () => {
    const f = figures();
    f.claims.won = 149;
    f.stream!.won = 149;
    expect(failed(f)).toEqual(["units won"]);
    expect(dropChecks(f)[0].detail).toContain("1 units not sold");
  });

  test("a member over its limit fails, whether the answers or CLAIMS show it, or a claim beyond it was not refused", () => {
    const answers = figures();
    answers.claims.membersOverLimit = 1;
    answers.claims.maxWonByMember = 2;
    expect(failed(answers)).toEqual(["per member"]);
    const stream = figures();
    stream.stream!.membersOverLimit = 1;
    expect(failed(stream)).toEqual(["per member"]);
    const beyond = figures();
    beyond.beyond.byStatus = { "409 already_claimed": 7, "410 sold_out": 1 };
    expect(failed(beyond)).toEqual(["per member"]);
  });

  test("a retry with the same key answered differently fails, and so does a claim never answered", () => {
    const f = figures();
    f.repeats.same = 19;
    f.repeats.differing = [{ member: 7, first: "410 sold_out", again: "201 won=true attempt=1 seq=9 at=1" }];
    expect(failed(f)).toEqual(["same key"]);
    expect(dropChecks(f)[3].detail).toContain('member 7: "410 sold_out" then "201');
    const lost = figures();
    lost.claims.unanswered = 1;
    lost.claims.firstError = "socket closed";
    expect(failed(lost)).toEqual(["units won"]);
    expect(dropChecks(lost)[0].detail).toContain("cannot tell");
  });

  test("a failed check makes the result exit 4; the SLO is judged on claim latency and claims answered per second", () => {
    const f = figures();
    f.claims.won = 151;
    const outcome = syntheticOutcome();
    for (let k = 0; k < 100; k++) outcome.timeline.latency("claim", 1500, 40);
    const result = buildResult({
      scenario: "drop",
      summary: "a synthetic drop",
      command: "tierstream loadtest drop",
      options: syntheticOptions({ sloP99Ms: 30, sloMinRate: 900 }),
      target: { kind: "local", natsUrl: "nats://127.0.0.1:4222", gatewayUrls: ["http://127.0.0.1:8080"], engines: 1 },
      outcome: { load: outcome, checks: dropChecks(f), notes: [], settings: {}, item: "claims", figures: f as unknown as Record<string, unknown>, rows: dropRows(f), rate: { perSec: 1000, verb: "answered", unit: "claims" } },
      machine: SYNTHETIC_MACHINE,
    });
    expect(result.exitCode).toBe(EXIT.checkFailed);
    expect(result.slo.items.map((i) => [i.name, i.pass])).toEqual([
      ["p99", false],
      ["min-rate", true],
    ]);
    expect(result.slo.items[0].detail).toContain("claim → answer p99 40 ms > 30 ms");
    expect(result.slo.items[1].detail).toBe("answered 1,000 claims/s ≥ 900");
    expect(result.rows.map(([l]) => l)).toContain("claims");
  });

  test("secrets given as flags stay out of the recorded command line", () => {
    expect(redactArgv(["drop", "--api-key", "k3y", "--jwt-secret=s3cret", "--inventory", "5"])).toEqual(["drop", "--api-key", "…", "--jwt-secret=…", "--inventory", "5"]);
  });
});

describe("loadtest drop", () => {
  test("200 connected, 400 claimants, 150 units: everyone told, exactly 150 won, CLAIMS agrees, exit 0", async () => {
    const out = join(dir, "ok");
    const r = await loadtest(["drop", "--connections", "200", "--claimants", "400", "--inventory", "150", "--opens-in-s", "2", "--slo-p99-ms", "20000", "--slo-min-rate", "10", "--out", out]);
    if (r.code !== 0) console.error(r.stdout, r.stderr);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\s+1 s {2}waiting for the opening {2}told 0\/200 {2}[\d.]+ cpu$/m);
    expect(r.stdout).toContain("SLO met");

    const result = JSON.parse(readFileSync(join(out, "result.json"), "utf8")) as LoadtestResult;
    expect(result.scenario).toBe("drop");
    expect(result.exitCode).toBe(0);
    expect(result.item).toBe("claims");
    const f = result.figures as unknown as DropFigures;
    expect(f.feed).toMatchObject({ connected: 200, eligible: 200, told: 200, toldIneligible: 0, closed: 200, closedByReason: { sold_out: 200 }, expectedClose: "sold_out" });
    expect(f.feed.allToldMs).toBeGreaterThan(0);
    expect(f.claims).toMatchObject({ sent: 400, answered: 400, unanswered: 0, won: 150, byStatus: { "201 won": 150, "410 sold_out": 250 }, membersOverLimit: 0, maxWonByMember: 1 });
    expect(f.claims.perSec).toBeGreaterThan(10);
    expect(f.stream).toMatchObject({ won: 150, membersOverLimit: 0 });
    // A refusal to a claim with a key is stored too: every answer is a record.
    expect(f.stream!.records).toBe(400 + f.beyond.sent);
    expect(f.repeats.sent).toBe(20);
    expect(f.repeats.same).toBe(20);
    expect(f.beyond.sent).toBeGreaterThan(0);
    expect(f.beyond.byStatus).toEqual({ "409 already_claimed": f.beyond.sent });
    expect(result.checks.map((c) => [c.name, c.pass])).toEqual([
      ["units won", true],
      ["per member", true],
      ["CLAIMS", true],
      ["same key", true],
    ]);
    expect(result.latency.claim!.count).toBe(400);
    expect(result.latency.open!.count).toBe(200);
    expect(result.latency.ack).toBeUndefined();
    expect(result.totals.offered).toBe(400);
    expect(result.totals.acked).toBe(400);
    expect(result.slo.items.map((i) => [i.name, i.unit, i.pass])).toEqual([
      ["p99", "ms", true],
      ["min-rate", "claims/s", true],
    ]);
    expect(result.feed).toMatchObject({ opened: 200, failed: 0 });
    const html = readFileSync(join(out, "report.html"), "utf8");
    expect(html).toContain('id="chart-latency-claim"');
    expect(html).toContain("Throughput — claims per second");
    expect(existsSync(join(out, "logs", "gateway.log"))).toBe(true);
  }, 90_000);

  test("bad drop flags, and a deployment without a claim key, exit 2 before anything starts", async () => {
    const tier = await loadtest(["drop", "--min-tier", "mithril"]);
    expect(tier.code).toBe(2);
    expect(tier.stderr).toContain("--min-tier must be one of bronze");
    const key = await loadtest(["drop", "--nats", "nats://127.0.0.1:1", "--gateway", "http://127.0.0.1:1", "--jwt-secret", "0123456789abcdef0123"]);
    expect(key.code).toBe(2);
    expect(key.stderr).toContain("needs a gateway key with the read and claim scopes");
  }, 30_000);
});
