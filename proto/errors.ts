// Bad-input codes: one stable code per reason, used in DLQ headers, HTTP errors and counters.

export const BAD_INPUT_CODES = [
  "malformed", // not msgpack, or truncated
  "bad_shape", // msgpack, but not an order, a tick or an array of them
  "batch_too_large",
  "bad_id",
  "bad_member",
  "bad_line",
  "bad_kind",
  "bad_amount",
  "bad_ts",
  "bad_order_ts",
  "ts_in_future", // ts more than 5 minutes after JetStream stored the message
  "wrong_partition", // the member does not belong to the message's partition
] as const;
export type BadInputCode = (typeof BAD_INPUT_CODES)[number];

export class BadInputError extends Error {
  override readonly name = "BadInputError";
  constructor(
    readonly code: BadInputCode,
    message: string,
    readonly item?: number,
  ) {
    super(message);
  }
}
