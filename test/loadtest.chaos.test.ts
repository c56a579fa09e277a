// `tierstream loadtest chaos` end to end: engine processes it started are SIGKILLed and
// restarted under load, and the verifier it runs afterwards finds the log and the engines
// agreeing — exit 0, the kills in the result's events, the verify check passed.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LoadtestResult } from "../loadtest/run/result.ts";

const CLI = join(import.meta.dir, "..", "scripts", "cli.ts");
const dir = mkdtempSync(join(tmpdir(), "tierstream-loadtest-chaos-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("loadtest chaos", () => {
  test("kills and restarts engines under load, then verify finds zero differences", async () => {
    const out = join(dir, "chaos");
    const args = ["chaos", "--rate", "1000", "--duration", "5", "--kill-every-s", "2", "--down-ms", "200", "--no-gateway", "--members", "2000", "--out", out];
    const proc = Bun.spawn([process.execPath, CLI, "loadtest", ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, TIERSTREAM_CONFIG: "" } });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) console.error(stdout, stderr);
    expect(code).toBe(0);
    const r = JSON.parse(readFileSync(join(out, "result.json"), "utf8")) as LoadtestResult;
    expect(r.target.engines).toBe(2);
    expect(r.events.filter((e) => e.what.startsWith("SIGKILL engine"))).toHaveLength(2);
    expect(r.events.filter((e) => e.what.startsWith("restart engine"))).toHaveLength(2);
    expect(r.checks).toHaveLength(1);
    expect(r.checks[0]).toMatchObject({ name: "verify", pass: true });
    expect(r.checks[0].detail).toStartWith("0 differences");
    expect(r.totals.errors).toBe(0);
    expect(r.totals.acked).toBe(r.totals.offered);
  }, 90_000);
});
