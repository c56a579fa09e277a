/**
 * One nats-server per describe block: started in beforeAll, removed in afterAll.
 *
 *   const nats = useNatsServer();
 *   test("...", async () => { const nc = await connect({ servers: nats.url }); ... });
 */
import { afterAll, beforeAll } from "bun:test";
import { startNatsServer, type NatsServerHandle, type NatsServerOptions } from "../../scripts/nats-server.ts";

export interface NatsFixture {
  readonly url: string;
  readonly server: NatsServerHandle;
}

export function useNatsServer(opts: NatsServerOptions = {}): NatsFixture {
  let server: NatsServerHandle | undefined;
  beforeAll(async () => {
    server = await startNatsServer(opts);
  });
  afterAll(async () => {
    await server?.cleanup();
  });
  // Read lazily: the server exists only once beforeAll has run.
  const started = (): NatsServerHandle => {
    if (server == null) throw new Error("useNatsServer: read url/server inside a test, not at describe time");
    return server;
  };
  return {
    get url() {
      return started().url;
    },
    get server() {
      return started();
    },
  };
}
