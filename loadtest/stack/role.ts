// The child's side of children.ts: a role process answers the parent's commands over Bun's
// IPC channel. Each command handler gets the request's args and returns a JSON value; an
// error goes back as the answer's text. SIGTERM (or the `stop` command) runs the role's `stop`
// (bounded) and exits; every role also answers `clock` with its wall clock (clock.ts).

export interface RoleRequest {
  id: number;
  cmd: string;
  args: unknown;
}

export type RoleReply =
  | { kind: "ready"; info: Record<string, unknown> }
  | { kind: "answer"; id: number; ok: true; result: unknown }
  | { kind: "answer"; id: number; ok: false; error: string };

export type Handlers = Record<string, (args: any) => unknown>;

const STOP_DEADLINE_MS = 10_000;

/** Serves `handlers` to the parent; `stop` runs once on SIGTERM or the `stop` command. */
export function serveRole(info: Record<string, unknown>, handlers: Handlers, stop: () => Promise<void> = async () => {}): void {
  const send = (reply: RoleReply) => process.send?.(reply);
  if (process.send === undefined) throw new Error("a role runs as a child of loadtest/stack/children.ts (no IPC channel)");
  let stopping: Promise<void> | null = null;
  const shutdown = (code: number) => {
    stopping ??= Promise.race([stop(), Bun.sleep(STOP_DEADLINE_MS)]).then(
      () => process.exit(code),
      () => process.exit(1),
    );
    return stopping;
  };
  process.on("SIGTERM", () => void shutdown(0));
  process.on("message", (message: RoleRequest) => {
    const { id, cmd, args } = message;
    const handler = cmd === "stop" ? () => shutdown(0) : cmd === "clock" ? wallNowMs : handlers[cmd];
    if (handler === undefined) return send({ kind: "answer", id, ok: false, error: `unknown command ${cmd}` });
    Promise.resolve()
      .then(() => handler(args))
      .then(
        (result) => send({ kind: "answer", id, ok: true, result: result ?? null }),
        (err: unknown) => send({ kind: "answer", id, ok: false, error: err instanceof Error ? err.message : String(err) }),
      );
  });
  send({ kind: "ready", info });
}

/** The wall clock in ms with sub-ms resolution, comparable between processes on one machine. */
export function wallNowMs(): number {
  return performance.timeOrigin + performance.now();
}
