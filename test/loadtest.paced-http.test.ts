// pacedHttp sends on schedule whatever the server does and counts each latency from when its
// request was due: a server that stalls shows the stall in every request due during it (a
// closed loop would send none of them until the stall ended, and record one slow request).

import { afterAll, describe, expect, test } from "bun:test";
import { pacedHttp } from "../loadtest/paced-http.ts";

let stallUntil = 0;
const server = Bun.serve({
  port: 0,
  async fetch() {
    const waitMs = stallUntil - performance.now();
    if (waitMs > 0) await Bun.sleep(waitMs);
    return new Response("ok");
  },
});
afterAll(() => server.stop(true));

const request = () => ({ path: "/", method: "GET" as const, headers: {} });
const baseUrl = `http://127.0.0.1:${server.port}`;

describe("pacedHttp", () => {
  test("sends every request due at the rate, and a fast server answers fast", async () => {
    const r = await pacedHttp({ baseUrl, ratePerS: 200, durationS: 1, request });
    expect(r.due).toBe(200);
    expect(r.sent).toBe(200);
    expect(r.ok).toBe(200);
    expect(r.latency.p50Ms).toBeLessThan(20);
    // A request sent ahead of its time (the sleep's granularity) counts from when it went, not
    // from when it was due: no answer takes less than a round trip.
    expect(r.latency.p50Ms).toBeGreaterThan(0.01);
  });

  test("a 300 ms stall is counted for every request due during it, from when it was due", async () => {
    const run = pacedHttp({ baseUrl, ratePerS: 200, durationS: 1, request });
    await Bun.sleep(200);
    stallUntil = performance.now() + 300;
    const r = await run;
    expect(r.sent).toBe(200); // nothing held back while the server stalled
    // ~60 requests were due during the stall: waiting 300 ms down to ~0, so p90 and up are long.
    expect(r.latency.p90Ms).toBeGreaterThan(100);
    expect(r.latency.maxMs).toBeGreaterThan(250);
  });
});
