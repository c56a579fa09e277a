/**
 * The nats-server harness: every other integration suite trusts it, so these
 * tests check the behaviour they rely on against a real server.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { freePort, startNatsCluster, startNatsServer } from "../scripts/nats-server.ts";
import { useNatsServer } from "./harness/nats.ts";

const connectTimeoutMs = 1_000;

const connections: NatsConnection[] = [];
async function open(servers: string | string[]): Promise<NatsConnection> {
  const nc = await connect({ servers, reconnect: false, timeout: connectTimeoutMs });
  connections.push(nc);
  return nc;
}
afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
});

async function addStreamWithOneMessage(nc: NatsConnection, name: string, replicas = 1): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name, subjects: [`${name}.>`], storage: StorageType.File, num_replicas: replicas });
  const ack = await jetstream(nc).publish(`${name}.a`, "hello");
  expect(ack).toMatchObject({ stream: name, seq: 1 });
}

async function readFirst(nc: NatsConnection, name: string): Promise<string | undefined> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.getMessage(name, { seq: 1 }))?.string();
}

describe("useNatsServer", () => {
  const nats = useNatsServer();

  test("serves JetStream: a file stream stores and returns a message", async () => {
    expect(nats.url).toBe(`nats://127.0.0.1:${nats.server.port}`);
    const nc = await open(nats.url);
    await addStreamWithOneMessage(nc, "ORDERS");
    expect(await readFirst(nc, "ORDERS")).toBe("hello");
  });

  test("restart() keeps the port and the stream's data", async () => {
    const { port, storeDir, pid } = nats.server;
    const nc = await open(nats.url);
    await addStreamWithOneMessage(nc, "KEPT");
    await nats.server.restart();
    expect(nats.server.port).toBe(port);
    expect(nats.server.storeDir).toBe(storeDir);
    expect(nats.server.pid).not.toBe(pid);
    const again = await open(nats.url);
    expect(await readFirst(again, "KEPT")).toBe("hello");
  });

  test("kill() closes connections and refuses new ones", async () => {
    const nc = await open(nats.url);
    await nats.server.kill();
    await nc.closed();
    expect(nc.isClosed()).toBe(true);
    await expect(open(nats.url)).rejects.toThrow();
  });
});

describe("startNatsServer", () => {
  test("concurrent servers get their own ports and store dirs; cleanup removes them", async () => {
    const [a, b] = await Promise.all([startNatsServer(), startNatsServer()]);
    try {
      expect(new Set([a.port, a.monitorPort, b.port, b.monitorPort]).size).toBe(4);
      expect(a.storeDir).not.toBe(b.storeDir);
      await Promise.all([open(a.url), open(b.url)]);
    } finally {
      await Promise.all([a.cleanup(), b.cleanup()]);
    }
    expect(existsSync(a.storeDir)).toBe(false);
    expect(existsSync(b.storeDir)).toBe(false);
  });

  test("a port already in use fails fast with the server's log", async () => {
    const taken = await startNatsServer({ jetStream: false });
    try {
      const clash = startNatsServer({ port: taken.port, jetStream: false });
      await expect(clash).rejects.toThrow(/exited with code \d+; last log lines:[\s\S]*address already in use/);
    } finally {
      await taken.cleanup();
    }
  });

  test("TIERSTREAM_NATS_PROF_PORT serves Go's pprof on that port; a value that is not a port is refused", async () => {
    const saved = process.env.TIERSTREAM_NATS_PROF_PORT;
    const profPort = await freePort();
    try {
      process.env.TIERSTREAM_NATS_PROF_PORT = String(profPort);
      const server = await startNatsServer({ jetStream: false });
      try {
        const index = await fetch(`http://127.0.0.1:${profPort}/debug/pprof/`);
        expect(index.status).toBe(200);
        expect(await index.text()).toContain("profile");
      } finally {
        await server.cleanup();
      }
      process.env.TIERSTREAM_NATS_PROF_PORT = "6061x";
      await expect(startNatsServer({ jetStream: false })).rejects.toThrow(/TIERSTREAM_NATS_PROF_PORT must be a port number, got "6061x"/);
    } finally {
      if (saved === undefined) delete process.env.TIERSTREAM_NATS_PROF_PORT;
      else process.env.TIERSTREAM_NATS_PROF_PORT = saved;
    }
  });

  test("a process that exits without cleanup() takes its server and temp dir along", async () => {
    const { pid, storeDir } = await startServerInChild("process.exit(0)");
    expect(await diesWithinMs(pid, 1_000)).toBe(true);
    expect(existsSync(storeDir)).toBe(false);
  });

  test.skipIf(Bun.which("setpriv") == null)("a SIGKILLed process takes its server along", async () => {
    const { pid, storeDir } = await startServerInChild("process.kill(process.pid, 'SIGKILL')");
    expect(await diesWithinMs(pid, 1_000)).toBe(true);
    // Nothing in the child could remove its temp dir.
    rmSync(dirname(storeDir), { recursive: true, force: true });
  });
});

const harnessPath = `${import.meta.dir}/../scripts/nats-server.ts`;

/** Starts a server in a child bun process that then ends with `exitCode`. */
async function startServerInChild(exitCode: string): Promise<{ pid: number; storeDir: string }> {
  const script = `import { startNatsServer } from ${JSON.stringify(harnessPath)};
    const s = await startNatsServer(); console.log(s.pid, s.storeDir); ${exitCode};`;
  const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
  const [pid, storeDir] = (await new Response(child.stdout).text()).trim().split(" ");
  await child.exited;
  expect(Number(pid)).toBeGreaterThan(0);
  return { pid: Number(pid), storeDir: storeDir! };
}

async function diesWithinMs(pid: number, timeoutMs: number): Promise<boolean> {
  const deadlineMs = Date.now() + timeoutMs;
  while (isRunning(pid)) {
    if (Date.now() > deadlineMs) return false;
    await Bun.sleep(10);
  }
  return true;
}

// A killed orphan can linger as a zombie when init does not reap it (as in
// some containers), and kill(pid, 0) still succeeds on a zombie; so read /proc.
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

describe("startNatsCluster", () => {
  let cluster: Awaited<ReturnType<typeof startNatsCluster>> | undefined;
  afterAll(async () => {
    await cluster?.cleanup();
  });

  test("three nodes accept an R3 stream and a publish to it", async () => {
    cluster = await startNatsCluster(3);
    expect(cluster.urls).toHaveLength(3);
    const nc = await open(cluster.urls);
    await addStreamWithOneMessage(nc, "REPLICATED", 3);
    const info = await (await jetstreamManager(nc)).streams.info("REPLICATED");
    expect(info.config.num_replicas).toBe(3);
    expect(info.cluster?.replicas).toHaveLength(2);
    // Read through a different node than the one we wrote through.
    const other = await open(cluster.urls[2]!);
    expect(await readFirst(other, "REPLICATED")).toBe("hello");
  });
});
