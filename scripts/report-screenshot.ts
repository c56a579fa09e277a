/**
 * A screenshot of a load-test report, as a person opening it would see it:
 *
 *   bun scripts/report-screenshot.ts <report.html | result.json> [out.png]   (default docs/loadtest-report.png)
 *
 * A result.json is rendered to HTML first (loadtest/html/report.ts), so any stored result can
 * be pictured again. Fails when the page logs an error or a chart has nothing drawn.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { renderReport } from "../loadtest/html/report.ts";
import type { LoadtestResult } from "../loadtest/run/result.ts";
import { launchChromium } from "./ensure-chromium.ts";

export interface PageCheck {
  errors: string[];
  charts: number;
  /** Charts with at least one non-empty series path. */
  drawn: number;
  paths: number;
}

/** Opens `htmlPath` offline in Chromium, checks its charts, and optionally saves a full-page screenshot. */
export async function checkReport(htmlPath: string, screenshot?: string): Promise<PageCheck> {
  const browser = await launchChromium();
  try {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on("console", (m) => void (m.type() === "error" && errors.push(`console: ${m.text()}`)));
    page.on("pageerror", (e) => void errors.push(`page: ${e.message}`));
    page.on("request", (r) => void (!r.url().startsWith("file:") && errors.push(`network request: ${r.url()}`)));
    await page.goto(`file://${resolve(htmlPath)}`, { waitUntil: "load" });
    const figures = await page.$$eval("figure.chart", (figs) =>
      figs.map((f) => {
        const paths = [...f.querySelectorAll("path.series")].filter((p) => (p.getAttribute("d") ?? "").length > 2 && (p as unknown as { getTotalLength(): number }).getTotalLength() > 0);
        return paths.length;
      }),
    );
    // Hover the first chart: the read-out script must run without errors and show a tip.
    const hover = await page.$("figure.chart rect.hover");
    if (hover !== null) {
      await hover.scrollIntoViewIfNeeded(); // a long summary table pushes the first chart below the fold
      const box = await hover.boundingBox();
      if (box !== null) await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      const tip = await page.$eval("figure.chart .tip", (t) => !(t as unknown as { hidden: boolean }).hidden && (t.textContent ?? "").length > 0);
      if (!tip) errors.push("hover: no read-out appeared");
      await page.mouse.move(0, 0);
    }
    if (screenshot !== undefined) await page.screenshot({ path: screenshot, fullPage: true });
    return { errors, charts: figures.length, drawn: figures.filter((n) => n > 0).length, paths: figures.reduce((a, b) => a + b, 0) };
  } finally {
    await browser.close();
  }
}

if (import.meta.main) {
  const [input, out = join(import.meta.dir, "..", "docs", "loadtest-report.png")] = process.argv.slice(2);
  if (input === undefined) {
    console.error("usage: bun scripts/report-screenshot.ts <report.html | result.json> [out.png]");
    process.exit(2);
  }
  let html = input;
  if (input.endsWith(".json")) {
    html = join(tmpdir(), `tierstream-report-${process.pid}.html`);
    writeFileSync(html, renderReport(JSON.parse(readFileSync(input, "utf8")) as LoadtestResult));
  }
  const check = await checkReport(html, out);
  console.log(`${check.drawn} of ${check.charts} charts drawn (${check.paths} series); screenshot ${out}`);
  if (check.errors.length > 0 || check.drawn < check.charts) {
    console.error(check.errors.join("\n") || "a chart has nothing drawn");
    process.exit(1);
  }
}
