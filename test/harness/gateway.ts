// Gateway options for suites: the production defaults, a free port, 64 partitions, the
// default lines, and a small member cache; each suite brings its own secret and keys.

import { GATEWAY_DEFAULTS, type GatewayOptions, type Scope } from "../../gateway/config.ts";
import { DEFAULT_LINES } from "../../proto/index.ts";

export function testGatewayOptions(
  natsUrl: string,
  secret: string,
  apiKeys: ReadonlyMap<string, ReadonlySet<Scope>>,
  o: Partial<GatewayOptions> = {},
): GatewayOptions {
  return {
    ...GATEWAY_DEFAULTS,
    natsUrl,
    port: 0,
    hostname: "127.0.0.1",
    jwtSecret: secret,
    apiKeys,
    partitions: 64,
    lines: [...DEFAULT_LINES],
    memberCacheEntriesMax: 1000,
    name: "test-gateway",
    ...o,
  };
}
