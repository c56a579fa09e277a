// `tierstream benefit put|get|list` against a real nats-server.

import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { useNatsServer } from "./harness/nats.ts";

const CLI = join(import.meta.dir, "..", "scripts", "cli.ts");

async function cli(args: string[], url: string): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn([process.execPath, CLI, "benefit", ...args, "--nats", url], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

describe("tierstream benefit", () => {
  const nats = useNatsServer();

  test("put refuses a bad definition with its reason, stores a good one; get and list show it with remaining", async () => {
    const bad = await cli(["put", "--id", "tea", "--title", "Tea", "--min-tier", "platinum", "--starts", "+1m", "--ends", "+10s"], nats.url);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toContain("endsAt must be after startsAt");
    const badTier = await cli(["put", "--id", "tea", "--title", "Tea", "--min-tier", "emerald", "--starts", "+1m", "--duration", "30m"], nats.url);
    expect(badTier.code).not.toBe(0);
    expect(badTier.err).toContain("minTier");

    const good = await cli(["put", "--id", "tea", "--title", "Tea", "--min-tier", "platinum", "--starts", "+1m", "--duration", "30m", "--inventory", "10000"], nats.url);
    expect(good.code).toBe(0);
    expect(good.err).toContain("created benefit tea");
    const def = JSON.parse(good.out) as { endsAt: number; startsAt: number; inventory: number };
    expect(def.endsAt - def.startsAt).toBe(30 * 60_000);

    const got = await cli(["get", "tea"], nats.url);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.out)).toMatchObject({ id: "tea", inventory: 10000, claimed: 0, remaining: 10000 });
    expect((await cli(["get", "nope"], nats.url)).code).toBe(1);
    const list = await cli(["list"], nats.url);
    expect(list.out.trim().split("\n").map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(["tea"]);
  });
});
