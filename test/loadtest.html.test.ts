// The HTML report as a person sees it: opened offline in headless Chromium (Debian's, driven by
// playwright-core), every chart has its lines drawn, hovering shows a read-out, and nothing is
// logged as an error or fetched from anywhere. LOADTEST_SCREENSHOT=path saves what it saw.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderReport } from "../loadtest/html/report.ts";
import { ensureChromium } from "../scripts/ensure-chromium.ts";
import { checkReport } from "../scripts/report-screenshot.ts";
import { syntheticResult } from "./harness/loadtest-result.ts";

const dir = mkdtempSync(join(tmpdir(), "tierstream-report-test-"));

beforeAll(() => {
  ensureChromium(); // apt-get install chromium on a fresh machine: minutes, once
}, 600_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the HTML report in Chromium", () => {
  test("renders every chart, with no console or page errors and no network", async () => {
    const page = join(dir, "report.html");
    writeFileSync(page, renderReport(syntheticResult({ sloP99Ms: 50 })));
    const check = await checkReport(page, process.env.LOADTEST_SCREENSHOT || undefined);
    expect(check.errors).toEqual([]);
    expect(check.charts).toBe(4); // throughput, ack and e2e latency over time, the distribution
    expect(check.drawn).toBe(4);
    expect(check.paths).toBe(14);
  }, 60_000);

  test("the check has teeth: a script error, a fetch and an empty chart are all caught", async () => {
    const page = join(dir, "broken.html");
    const html = renderReport(syntheticResult())
      .replace('<path class="series" data-series="sent" d="M', '<path class="series" data-series="sent" d="" data-was="M')
      .replace("</body>", '<script>undefinedFunction();</script><img src="http://127.0.0.1:9/x.png"></body>');
    writeFileSync(page, html);
    const check = await checkReport(page);
    expect(check.errors.some((e) => e.includes("undefinedFunction"))).toBe(true);
    expect(check.errors.some((e) => e.includes("network request: http://127.0.0.1:9/x.png"))).toBe(true);
    expect(check.paths).toBe(13);
  }, 60_000);
});
