// An error answer of an engine endpoint: the HTTP status and code the gateway passes on.

export class RequestError extends Error {
  override readonly name = "RequestError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
