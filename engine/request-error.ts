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

/** The error answer's body, as every endpoint and the request lane send it. */
export function errorBody(e: RequestError): { error: { code: string; message: string } } {
  return { error: { code: e.code, message: e.message } };
}
