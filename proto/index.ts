// proto: the public face of tierstream's wire formats. Importable by any producer.

export * from "./names.ts";
export * from "./types.ts";
export * from "./errors.ts";
export { partitionOf, memberHash32, fmix32 } from "./partition.ts";
export { encodeOrders, encodeOrder, decodeOrders, decodeOrderItems, decodeRawItems } from "./codec.ts";
export { validateOrder, validateEvent, type Validated } from "./validate.ts";
export { OrderReader, ITEM_PAID, ITEM_REFUND, ITEM_TICK, skipValue } from "./reader.ts";
export { streamConfigs, ensureStreams, type StreamOptions } from "./streams.ts";
