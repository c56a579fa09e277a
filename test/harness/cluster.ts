/**
 * A 3-node NATS cluster per describe block, with the contract's streams at replicas 3:
 * started in beforeAll, removed in afterAll.
 *
 *   const cluster = useNatsCluster();
 *   test("...", async () => { const nc = await connect({ servers: cluster.urls }); ... });
 */
import { afterAll, beforeAll } from "bun:test";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ensureStreams } from "../../proto/streams.ts";
import { type NatsCluster, type NatsServerHandle, startNatsCluster } from "../../scripts/nats-server.ts";

export interface ClusterFixture {
  readonly urls: string[];
  readonly servers: NatsServerHandle[];
  /** The node (index into servers) that leads a stream now. */
  leaderOf(jsm: JetStreamManager, stream: string): Promise<number>;
}

/** Starts 3 nodes and creates the streams with 3 replicas each. */
export async function startReplicatedCluster(size = 3): Promise<NatsCluster> {
  const cluster = await startNatsCluster(size);
  try {
    const nc = await connect({ servers: cluster.urls });
    try {
      await ensureStreams(await jetstreamManager(nc), { replicas: size });
    } finally {
      await nc.close();
    }
  } catch (err) {
    await cluster.cleanup();
    throw err;
  }
  return cluster;
}

export function useNatsCluster(size = 3): ClusterFixture {
  let cluster: NatsCluster | undefined;
  beforeAll(async () => {
    cluster = await startReplicatedCluster(size);
  });
  afterAll(async () => {
    await cluster?.cleanup();
  });
  const started = (): NatsCluster => {
    if (cluster == null) throw new Error("useNatsCluster: read it inside a test, not at describe time");
    return cluster;
  };
  return {
    get urls() {
      return started().urls;
    },
    get servers() {
      return started().servers;
    },
    async leaderOf(jsm, stream) {
      // startNatsCluster names the nodes n1, n2, … in servers order.
      const leader = (await jsm.streams.info(stream)).cluster?.leader ?? "";
      const index = Number(leader.replace(/^n/, "")) - 1;
      if (!(index >= 0 && index < started().servers.length)) throw new Error(`stream ${stream} has no leader (${leader})`);
      return index;
    },
  };
}

/** A connection that survives the loss of any one node (it knows them all). */
export function connectCluster(urls: string[]): Promise<NatsConnection> {
  return connect({ servers: urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
}
