// The peer: a bare Bun.serve WebSocket server with no logic, in a process of its own:
//   bun loadtest/stack/bare-ws-role.ts [--subscribe]
// Each connection (`?m=<member>`) gets one small hello frame on open and, with --subscribe,
// is subscribed to the topic m.<member>. Commands:
//   memory: this process's RSS and heap after a full collection, and the connections held;
//   publish {phase, members, ratePerSec, durationMs}: server.publish of one small `tier`
//     frame per tick to the next member's topic, its cause a probe id stamped just before the
//     call — the raw cost of getting a frame from a Bun server to a connected client.

import type { ServerWebSocket } from "bun";
import { processMemory } from "./process-memory.ts";
import { probeId } from "./probe-id.ts";
import { serveRole, wallNowMs } from "./role.ts";

const subscribe = process.argv.includes("--subscribe");
const PUBLISH_TICK_MS = 1;
let connections = 0;

const server = Bun.serve<{ member: number }>({
  port: 0,
  hostname: "127.0.0.1",
  fetch(req, srv) {
    const member = Number(new URL(req.url).searchParams.get("m"));
    if (srv.upgrade(req, { data: { member } })) return undefined;
    return new Response("websocket only", { status: 426 });
  },
  websocket: {
    idleTimeout: 120,
    perMessageDeflate: false,
    open(ws: ServerWebSocket<{ member: number }>) {
      connections++;
      if (subscribe) ws.subscribe(`m.${ws.data.member}`);
      ws.send(`{"type":"hello","member":${ws.data.member}}`);
    },
    message() {},
    close() {
      connections--;
    },
  },
});

interface PublishArgs {
  phase: string;
  members: number[];
  ratePerSec: number;
  durationMs: number;
}

async function publish(a: PublishArgs): Promise<{ sent: number; delivered: number }> {
  const t0 = performance.now();
  let sent = 0;
  let delivered = 0;
  while (performance.now() - t0 < a.durationMs) {
    const due = Math.floor(((performance.now() - t0) * a.ratePerSec) / 1000);
    for (; sent < due; sent++) {
      const member = a.members[sent % a.members.length];
      const cause = probeId(a.phase, sent, wallNowMs());
      // > 0: bytes sent to at least one subscriber (Bun's ServerWebSocket publish semantics).
      if (server.publish(`m.${member}`, `{"type":"tier","member":${member},"cause":"${cause}"}`) > 0) delivered++;
    }
    await Bun.sleep(PUBLISH_TICK_MS);
  }
  return { sent, delivered };
}

serveRole(
  { port: server.port, url: `ws://127.0.0.1:${server.port}/` },
  {
    memory: () => ({ ...processMemory(), connections }),
    publish,
  },
  async () => void server.stop(true),
);
