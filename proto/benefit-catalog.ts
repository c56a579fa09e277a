// BenefitCatalog: every benefit definition in the BENEFITS KV bucket, kept current by a KV
// watch. It starts from the bucket's last values, so definitions written while a process was
// down are there when it starts; changes arrive within the watch's delivery time (ms).
// Entries that do not validate (someone wrote the bucket around the API) are left out, loudly.

import { Kvm, type KV, type KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { QueuedIterator } from "@nats-io/nats-core";
import { openRacing } from "./create-race.ts";
import { type Benefit, parseBenefit } from "./benefit.ts";
import { BUCKET_BENEFIT_POOLS, BUCKET_BENEFITS } from "./names.ts";

export interface BenefitBuckets {
  benefits: KV;
  pools: KV;
}

/** Opens (creating when missing) BENEFITS and BENEFIT_POOLS. Idempotent. */
export async function openBenefitBuckets(nc: NatsConnection, replicas = 1): Promise<BenefitBuckets> {
  const kvm = new Kvm(nc);
  const [benefits, pools] = await Promise.all([
    openRacing(() => kvm.create(BUCKET_BENEFITS, { history: 5, replicas, storage: "file" })),
    openRacing(() => kvm.create(BUCKET_BENEFIT_POOLS, { history: 1, replicas, storage: "file" })),
  ]);
  return { benefits, pools };
}

export type CatalogListener = (id: string, benefit: Benefit | null) => void;

export class BenefitCatalog {
  private readonly byId = new Map<string, Benefit>();
  private readonly listeners: CatalogListener[] = [];
  private watcher: QueuedIterator<KvWatchEntry> | null = null;
  /** Entries that failed validation, for metrics and tests. */
  invalidEntries = 0;

  constructor(
    private readonly kv: KV,
    private readonly warn: (message: string) => void = () => {},
  ) {}

  /** Resolves once the bucket's values as of now are loaded. */
  async start(): Promise<void> {
    const status = await this.kv.status();
    const lastSeq = status.streamInfo.state.last_seq;
    const messages = status.streamInfo.state.messages;
    this.watcher = await this.kv.watch();
    let loaded!: () => void;
    const initial = new Promise<void>((resolve) => (loaded = resolve));
    if (messages === 0) loaded();
    void (async () => {
      for await (const e of this.watcher!) {
        this.apply(e);
        // Revisions are stream sequences; the last message is always delivered (it is the last value of its key).
        if (e.revision >= lastSeq) loaded();
      }
    })();
    await initial;
  }

  stop(): void {
    this.watcher?.stop();
    this.watcher = null;
  }

  get(id: string): Benefit | undefined {
    return this.byId.get(id);
  }

  all(): Benefit[] {
    return [...this.byId.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  onChange(listener: CatalogListener): void {
    this.listeners.push(listener);
  }

  private apply(e: KvWatchEntry): void {
    let next: Benefit | null = null;
    if (e.operation === "PUT") {
      let parsed: ReturnType<typeof parseBenefit>;
      try {
        parsed = parseBenefit(e.json(), e.key);
      } catch {
        parsed = { ok: false, problems: [{ path: "(body)", message: "is not JSON" }] };
      }
      if (parsed.ok) next = parsed.value;
      else {
        this.invalidEntries++;
        this.warn(`BENEFITS "${e.key}" (revision ${e.revision}) is not a valid benefit, ignored: ${parsed.problems.map((p) => `${p.path} ${p.message}`).join("; ")}`);
      }
    }
    if (next === null && !this.byId.has(e.key)) return;
    if (next === null) this.byId.delete(e.key);
    else this.byId.set(e.key, next);
    for (const l of this.listeners) l(e.key, next);
  }
}
