// Memory per idle feed connection: a nats-server, an engine, a gateway (hub + Bun.serve) and
// a client process each on their own, so the gateway's numbers hold only the gateway.
//
//   bun gateway/feed/bench/idle-memory.ts [connections=15000]
//
// Every connection is a different member (the worst case: two NATS subscriptions and a
// lease each). The gateway's RSS and JS heap are read after a full GC with WARM connections
// open and again with all of them; the difference is divided by the connections added.

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { heapStats } from "bun:jsc";
import { sign } from "hono/jwt";
import { loadConfig } from "../../../engine/config.ts";
import { Engine } from "../../../engine/engine.ts";
import { silentLogger } from "../../../engine/log.ts";
import { DEFAULT_LINES } from "../../../proto/types.ts";
import { startNatsServer } from "../../../scripts/nats-server.ts";
import type { GatewayOptions } from "../../config.ts";
import { EngineClient } from "../../engine-client.ts";
import { GatewayMetrics } from "../../metrics.ts";
import { FeedHub, type FeedSocketData } from "../hub.ts";

const SECRET = "idle-memory-bench-secret";
const WARM = 1000;
const OPEN_BATCH = 250;
const [role, arg] = [process.argv[2], process.argv[3]];

async function engine(natsUrl: string): Promise<void> {
  await Engine.start({ natsUrl, config: loadConfig({ tickIntervalMs: 0 }), log: silentLogger });
  console.log("ready");
}

async function gateway(natsUrl: string): Promise<void> {
  const options: GatewayOptions = {
    natsUrl,
    port: 0,
    jwtSecret: SECRET,
    apiKeys: new Map(),
    partitions: 64,
    lines: [...DEFAULT_LINES],
    requestTimeoutMs: 5000,
    wsBackpressureBytesMax: 1 << 20,
    wsIdleTimeoutSec: 120,
    interestLeaseMs: 30_000,
    memberCacheTtlMs: 250,
    memberCacheEntriesMax: 1000,
    name: "idle-memory",
  };
  const nc = await connect({ servers: natsUrl });
  const hub = new FeedHub({
    options,
    nc,
    js: jetstream(nc),
    jsm: await jetstreamManager(nc),
    engines: new EngineClient(nc, 64, 5000),
    metrics: new GatewayMetrics(),
    log: silentLogger,
  });
  await hub.start();
  const server = Bun.serve<FeedSocketData>({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req, srv) {
      const path = new URL(req.url).pathname;
      if (path === "/v1/feed") return hub.upgrade(req, srv);
      Bun.gc(true);
      return Response.json({ rss: process.memoryUsage().rss, heap: heapStats().heapSize, ...hub.stats() });
    },
    websocket: hub.websocket,
  });
  console.log(String(server.port));
}

async function clients(port: number, total: number): Promise<void> {
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const sockets: WebSocket[] = [];
  const open = async (upTo: number) => {
    while (sockets.length < upTo) {
      const batch: Promise<void>[] = [];
      for (let i = 0; i < OPEN_BATCH && sockets.length < upTo; i++) {
        const member = 1_000_000 + sockets.length;
        const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/feed?token=${await sign({ sub: String(member), exp }, SECRET, "HS256")}`);
        sockets.push(ws);
        batch.push(new Promise((resolve, reject) => {
          ws.onmessage = () => resolve();
          ws.onclose = (ev) => reject(new Error(`closed ${ev.code} before hello`));
        }));
      }
      await Promise.all(batch);
    }
  };
  for await (const line of console) {
    await open(Number(line));
    console.log(`open ${sockets.length}`);
    if (sockets.length >= total) break;
  }
  await Bun.sleep(1e9);
}

function spawn(args: string[]) {
  const p = Bun.spawn([process.execPath, import.meta.path, ...args], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const reader = p.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const line = async (): Promise<string> => {
    for (;;) {
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        const l = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        return l;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error(`${args[0]} exited`);
      buf += value;
    }
  };
  return { p, line, send: (s: string) => p.stdin.write(`${s}\n`) };
}

async function main(): Promise<void> {
  const total = Number(arg ?? 15_000);
  const nats = await startNatsServer();
  const eng = spawn(["engine", nats.url]);
  await eng.line();
  const gw = spawn(["gateway", nats.url]);
  const port = Number(await gw.line());
  const mem = async () => (await (await fetch(`http://127.0.0.1:${port}/mem`)).json()) as { rss: number; heap: number; connections: number };
  const cl = spawn(["clients", String(port), String(total)]);
  cl.send(String(WARM));
  await cl.line();
  await Bun.sleep(500);
  const before = await mem();
  const t0 = performance.now();
  cl.send(String(total));
  await cl.line();
  const openMs = performance.now() - t0;
  await Bun.sleep(1000);
  const after = await mem();
  const added = after.connections - before.connections;
  const kb = (bytes: number) => (bytes / added / 1024).toFixed(2);
  console.log(
    `${after.connections} idle connections (${added} added in ${(openMs / 1000).toFixed(1)} s): ` +
      `gateway RSS ${(after.rss / 2 ** 20).toFixed(0)} MiB, per connection RSS ${kb(after.rss - before.rss)} KiB, ` +
      `JS heap ${kb(after.heap - before.heap)} KiB`,
  );
  for (const x of [cl, gw, eng]) x.p.kill();
  await nats.cleanup();
}

if (role === "engine") await engine(arg);
else if (role === "gateway") await gateway(arg);
else if (role === "clients") await clients(Number(arg), Number(process.argv[4]));
else await main();
