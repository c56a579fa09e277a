// Tools from Debian packages (wrk, redis-server): found on PATH or in /usr/{s,}bin, installed
// with apt-get when missing and we are root — as scripts/nats-server.ts does for nats-server.

import { existsSync } from "node:fs";

export function findTool(binary: string): string | null {
  const candidates = [Bun.which(binary), `/usr/bin/${binary}`, `/usr/sbin/${binary}`];
  return candidates.find((p): p is string => p !== null && existsSync(p)) ?? null;
}

/** The path of `binary`, installing Debian's `pkg` first when it is missing. Throws with the command to run. */
export function ensureTool(binary: string, pkg: string, log: (msg: string) => void): string {
  const found = findTool(binary);
  if (found !== null) return found;
  const hint = `${binary} is not installed; install it with: sudo apt-get install -y ${pkg}`;
  const aptGet = Bun.which("apt-get");
  if (process.getuid?.() !== 0 || aptGet === null) throw new Error(hint);
  log(`${binary} not found; apt-get install ${pkg}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => Bun.spawnSync([aptGet, "install", "-y", "-qq", pkg], { env });
  // A fresh image has no package lists: update only when the cached ones fail us.
  if (install().exitCode !== 0) {
    Bun.spawnSync([aptGet, "update", "-qq"], { env });
    if (install().exitCode !== 0) throw new Error(hint);
  }
  const path = findTool(binary);
  if (path === null) throw new Error(hint);
  return path;
}
