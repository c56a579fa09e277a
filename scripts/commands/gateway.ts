// `tierstream gateway`: the WebSocket feed and HTTP API on one port.

import { loadConfigFile } from "../../engine/config.ts";
import { consoleLogger } from "../../engine/log.ts";
import { GATEWAY_DEFAULTS, parseApiKeys } from "../../gateway/config.ts";
import { Gateway } from "../../gateway/gateway.ts";
import { type Command, COMMON_FLAGS_HELP, natsUrlOf, numberFlag, parseFlags, untilSignal, UsageError } from "./command.ts";

export const gatewayCommand: Command = {
  name: "gateway",
  summary: "serve the live WebSocket feed and the HTTP API",
  help: `usage: tierstream gateway [flags]

Serves GET /v1/feed (WebSocket) and the HTTP API (/v1/members, /v1/orders, /v1/benefits,
/v1/eligibility, /v1/stats, /healthz, /readyz, /metrics) on one port. Any number of gateways can run side by side.
SIGTERM closes feeds with 1001 (clients resume with since) and exits 0.

flags:
${COMMON_FLAGS_HELP}
  --port N            listen port                              [env PORT, default ${GATEWAY_DEFAULTS.port}]
  --host ADDR         listen address                           [default 127.0.0.1]
  --name NAME         gateway name (in interest leases)        [default gateway-<pid>]
  --replicas N        replicas for the BENEFITS and BENEFIT_POOLS buckets when this gateway
                      creates them (3 on a cluster, as for the engines) [default 1]

environment:
  TIERSTREAM_JWT_SECRET   HS256 secret of member tokens (required)
  TIERSTREAM_API_KEYS     key:scope,scope;key2:scope — scopes read, claim, ingest, admin`,

  async run(argv) {
    const { flags } = parseFlags(argv, {
      nats: { type: "string" },
      config: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      name: { type: "string" },
      replicas: { type: "string" },
    });
    const jwtSecret = process.env.TIERSTREAM_JWT_SECRET ?? "";
    if (jwtSecret.length < 16) throw new UsageError("TIERSTREAM_JWT_SECRET must be set (at least 16 characters)");
    const config = await loadConfigFile((flags.config as string | undefined) ?? process.env.TIERSTREAM_CONFIG);
    const log = consoleLogger("gateway");
    const gateway = await Gateway.start(
      {
        ...GATEWAY_DEFAULTS,
        natsUrl: natsUrlOf(flags.nats),
        port: numberFlag({ port: (flags.port as string | undefined) ?? process.env.PORT }, "port", GATEWAY_DEFAULTS.port, 0, 65535),
        hostname: (flags.host as string | undefined) ?? "127.0.0.1",
        jwtSecret,
        apiKeys: parseApiKeys(process.env.TIERSTREAM_API_KEYS),
        partitions: config.partitions,
        lines: config.lineNames,
        name: (flags.name as string | undefined) ?? `gateway-${process.pid}`,
        replicas: numberFlag(flags, "replicas", 1, 1, 5),
      },
      log,
    );
    const signal = await untilSignal();
    log.info(`${signal}: closing feeds and draining`);
    await gateway.stop();
    return 0;
  },
};
