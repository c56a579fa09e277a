// One-line logs to stderr: `<iso time> <level> <component> <message>`. Injected, so tests can
// capture or silence them.

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  child(component: string): Logger;
}

export function consoleLogger(component = "tierstream", now: () => number = Date.now): Logger {
  const line = (level: string, msg: string) =>
    process.stderr.write(`${new Date(now()).toISOString()} ${level} ${component} ${msg}\n`);
  return {
    info: (msg) => line("info", msg),
    warn: (msg) => line("warn", msg),
    error: (msg) => line("error", msg),
    child: (c) => consoleLogger(`${component}.${c}`, now),
  };
}

export const silentLogger: Logger = {
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};
