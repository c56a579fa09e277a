/**
 * Headless Chromium for the tests and scripts that look at an HTML page (the load-test
 * report): Debian's `chromium`, installed with apt-get when missing and we are root — as
 * scripts/nats-server.ts does for nats-server — driven by playwright-core (which brings no
 * browser of its own: this machine reaches no download site).
 *
 * The flags keep Chromium from reaching for the network (component updates, sync, QUIC,
 * background fetches): without them it stalls on a machine with no outside network.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext } from "playwright-core";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const installHint = "chromium is not installed; install it with: sudo apt-get install -y chromium";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
] as const;

export function findChromium(): string | undefined {
  return CANDIDATES.find((p) => existsSync(p));
}

let chromiumPath: string | undefined;

/** The path of Debian's chromium, installing it first when missing. Throws with the command to run. */
export function ensureChromium(log: (msg: string) => void = (m) => console.error(m)): string {
  chromiumPath ??= findChromium() ?? installChromium(log);
  return chromiumPath;
}

function installChromium(log: (msg: string) => void): string {
  const aptGet = Bun.which("apt-get");
  if (process.getuid?.() !== 0 || aptGet == null) throw new Error(installHint);
  log("chromium not found; installing it with apt-get install chromium");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => Bun.spawnSync([aptGet, "install", "-y", "-qq", "--no-install-recommends", "chromium"], { env });
  // A fresh image has no package lists; update only when the cached ones fail us.
  if (install().exitCode !== 0) {
    Bun.spawnSync([aptGet, "update", "-qq"], { env });
    const retry = install();
    if (retry.exitCode !== 0) throw new Error(`${installHint} (apt-get: ${retry.stderr.toString().trim().split("\n").at(-1)})`);
  }
  const path = findChromium();
  if (path == null) throw new Error(installHint);
  return path;
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Chromium with a fresh profile in a temporary folder, removed on close. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = ensureChromium();
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(join(tmpdir(), "tierstream-chromium-"));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: [...CHROMIUM_ARGS],
      viewport: { width: 1100, height: 900 },
      offline: true,
    });
    return {
      context,
      async close() {
        await context.close().catch(() => {});
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
}

if (import.meta.main) {
  console.log(ensureChromium());
}
