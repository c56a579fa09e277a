// A logger that keeps its lines, for suites that assert on what a component said.

import type { Logger } from "../../engine/log.ts";

export const memoryLog = (): Logger & { lines: string[] } => {
  const lines: string[] = [];
  const log: Logger & { lines: string[] } = {
    lines,
    info: (m) => lines.push(m),
    warn: (m) => lines.push(m),
    error: (m) => lines.push(m),
    child: () => log,
  };
  return log;
};
