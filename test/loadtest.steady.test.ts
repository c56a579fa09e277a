// `tierstream loadtest steady` end to end, as CI would run it: a few seconds at a low rate
// against the local stack it starts, the JSON result it leaves, and its exit status — 0 when
// the SLO holds, 3 when it cannot (an impossible one), 2 for a scenario it cannot run there.

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LoadtestResult } from "../loadtest/run/result.ts";

const CLI = join(import.meta.dir, "..", "scripts", "cli.ts");
const dir = mkdtempSync(join(tmpdir(), "tierstream-loadtest-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function loadtest(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, CLI, "loadtest", ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, TIERSTREAM_CONFIG: "", NATS_URL: "" },
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

const readResult = (out: string) => JSON.parse(readFileSync(join(out, "result.json"), "utf8")) as LoadtestResult;

describe("loadtest steady", () => {
  test("a short run on the local stack: a line a second, the result file, the report, exit 0 with its SLO met", async () => {
    const out = join(dir, "ok");
    const r = await loadtest(["steady", "--rate", "2000", "--duration", "3", "--members", "5000", "--connections", "20", "--slo-p99-ms", "5000", "--slo-min-rate", "1500", "--out", out]);
    if (r.code !== 0) console.error(r.stdout, r.stderr);
    expect(r.code).toBe(0);
    const live = r.stdout.split("\n").filter((l) => /^\d\/3 s\s+asked 2,000\/s/.test(l));
    expect(live).toHaveLength(3);
    expect(r.stdout).toContain("SLO met");

    const result = readResult(out);
    expect(result.scenario).toBe("steady");
    expect(result.exitCode).toBe(0);
    expect(result.target.kind).toBe("local");
    expect(result.totals.requested).toBe(6000);
    expect(result.totals.offered).toBeGreaterThanOrEqual(5999);
    expect(result.totals.acked).toBe(result.totals.offered);
    expect(result.totals.errors).toBe(0);
    expect(result.totals.achievedRate).toBeGreaterThan(1500);
    expect(result.totals.applied).toBeGreaterThanOrEqual(result.totals.acked);
    expect(result.timeline.slice(0, 3).map((s) => s.requested)).toEqual([2000, 2000, 2000]);
    expect(result.latency.ack!.count).toBe(result.totals.messages);
    expect(result.latency.ack!.p99Ms).toBeGreaterThan(0);
    // Probes through the gateway: each one's tier frame came back.
    expect(result.probes!.sent).toBeGreaterThan(10);
    expect(result.probes!.received).toBe(result.probes!.sent);
    expect(result.latency.e2e!.count).toBe(result.probes!.received);
    expect(result.feed!.opened).toBe(20);
    expect(result.slo).toMatchObject({ pass: true });
    expect(result.slo.items.map((i) => i.name)).toEqual(["p99", "min-rate"]);
    expect(existsSync(join(out, "report.html"))).toBe(true);
    expect(existsSync(join(out, "logs", "engine-0.log"))).toBe(true);
  }, 60_000);

  test("an impossible SLO exits 3 and says which objective was missed", async () => {
    const out = join(dir, "missed");
    const r = await loadtest(["steady", "--rate", "1000", "--duration", "2", "--members", "1000", "--no-gateway", "--slo-p99-ms", "0.0001", "--slo-min-rate", "1000000", "--out", out]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/SLO MISSED: publish → PubAck p99 [\d.]+ ms > 0\.0001 ms/);
    expect(r.stdout).toMatch(/SLO MISSED: acknowledged [\d,]+ orders\/s < 1,000,000/);
    const result = readResult(out);
    expect(result.exitCode).toBe(3);
    expect(result.slo.pass).toBe(false);
    expect(result.latency.e2e).toBeUndefined(); // no gateway, no probes
    expect(result.probes).toBeNull();
  }, 60_000);

  test("a scenario the target cannot run, and bad flags, exit 2 before anything starts", async () => {
    const chaos = await loadtest(["chaos", "--nats", "nats://127.0.0.1:1"]);
    expect(chaos.code).toBe(2);
    expect(chaos.stderr).toContain("chaos runs only on the local stack");
    const lines = await loadtest(["steady", "--lines", "taobao=50,jd=50"]);
    expect(lines.code).toBe(2);
    expect(lines.stderr).toContain('unknown line "jd"');
    const unknown = await loadtest(["midnight"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("scenarios: steady, spike, feed, chaos");
  }, 30_000);
});
