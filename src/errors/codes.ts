// errors/ owns every answer the gateway writes itself: the SPEC §7 code table (codes.ts) and the
// only writer of those answers (respond.ts).
/**
 * The one table of gateway errors (SPEC §7). A code, once shipped, never changes meaning.
 * Internal detail goes in `cause`; it is never rendered and only logged after redaction.
 */
export type GatewayErrorCode =
  | 'INVALID_HOST'
  | 'NOT_FOUND'
  | 'UNAUTHORIZED'
  | 'INVALID_LINK'
  | 'LOGIN_FAILED'
  | 'FORBIDDEN'
  | 'BAD_REQUEST'
  | 'HEADERS_TOO_LARGE'
  | 'REQUEST_TIMEOUT'
  | 'UPSTREAM_UNREACHABLE'
  | 'UPSTREAM_TIMEOUT'
  | 'CONTROL_PLANE_UNAVAILABLE'
  | 'OVERLOADED'
  | 'TOO_MANY_CONNECTIONS'
  | 'INTERNAL'
  | 'SANDBOX_NOT_STARTED'
  | 'SANDBOX_STARTING'
  | 'SANDBOX_STOPPED'
  | 'SANDBOX_ERROR'
  | 'SANDBOX_BUILD_FAILED'
  | 'SANDBOX_NOT_FOUND'

/** SPEC §10: the Daytona platform's own codes, sent as `daytonaCode` beside ours where one applies. */
export type DaytonaCode = 'SANDBOX_NOT_STARTED' | 'SANDBOX_NOT_FOUND' | 'RUNNER_UNREACHABLE'

export interface ErrorRow {
  readonly status: number
  readonly error: string
  readonly message: string
  /** The Daytona SDK's own code for this situation (SPEC §10), sent beside ours. */
  readonly daytonaCode?: DaytonaCode
}

export const ERRORS: Readonly<Record<GatewayErrorCode, ErrorRow>> = Object.freeze({
  INVALID_HOST: { status: 404, error: 'Not Found', message: 'This host is not a preview of this gateway.' },
  NOT_FOUND: { status: 404, error: 'Not Found', message: 'No such route.' },
  UNAUTHORIZED: { status: 401, error: 'Unauthorized', message: 'A valid preview credential is required: a preview token, a bearer token, a signed link or a session.' },
  INVALID_LINK: { status: 401, error: 'Unauthorized', message: 'This preview link is invalid or has expired. Ask the person who shared it for a new link.' },
  LOGIN_FAILED: { status: 400, error: 'Bad Request', message: 'The login could not be completed. Open the preview link again to start a new login.' },
  FORBIDDEN: { status: 403, error: 'Forbidden', message: 'The credential is valid but this request is not allowed here.' },
  BAD_REQUEST: { status: 400, error: 'Bad Request', message: 'The request is malformed or ambiguous.' },
  HEADERS_TOO_LARGE: { status: 431, error: 'Request Header Fields Too Large', message: 'Request headers exceed 16 KiB or 1000 lines.' },
  REQUEST_TIMEOUT: { status: 408, error: 'Request Timeout', message: 'The request headers did not arrive in time.' },
  UPSTREAM_UNREACHABLE: { status: 502, error: 'Bad Gateway', message: 'The sandbox did not accept the connection. Is the sandbox running and the port listening?', daytonaCode: 'RUNNER_UNREACHABLE' },
  UPSTREAM_TIMEOUT: { status: 504, error: 'Gateway Timeout', message: 'The sandbox did not answer in time.' },
  CONTROL_PLANE_UNAVAILABLE: { status: 502, error: 'Bad Gateway', message: 'The sandbox platform could not be reached; try again shortly.' },
  OVERLOADED: { status: 503, error: 'Service Unavailable', message: 'The gateway is overloaded; try again shortly.' },
  TOO_MANY_CONNECTIONS: { status: 429, error: 'Too Many Requests', message: 'This sandbox has too many open connections through the gateway; try again shortly.' },
  INTERNAL: { status: 500, error: 'Internal Server Error', message: 'The gateway failed to handle the request.' },
  SANDBOX_NOT_STARTED: { status: 503, error: 'Service Unavailable', message: 'The sandbox is not running (no runner holds it). Start the sandbox and try again.', daytonaCode: 'SANDBOX_NOT_STARTED' },
  SANDBOX_STARTING: { status: 503, error: 'Service Unavailable', message: 'The sandbox is starting; try again in a few seconds.', daytonaCode: 'SANDBOX_NOT_STARTED' },
  SANDBOX_STOPPED: { status: 503, error: 'Service Unavailable', message: 'The sandbox is stopped. Start it, then try again.', daytonaCode: 'SANDBOX_NOT_STARTED' },
  SANDBOX_ERROR: { status: 502, error: 'Bad Gateway', message: 'The sandbox is in an error state and cannot serve this request.' },
  SANDBOX_BUILD_FAILED: { status: 502, error: 'Bad Gateway', message: 'The sandbox image failed to build; the sandbox cannot serve this request.' },
  SANDBOX_NOT_FOUND: { status: 404, error: 'Not Found', message: 'This sandbox does not exist or has been deleted.', daytonaCode: 'SANDBOX_NOT_FOUND' },
})

export class GatewayError extends Error {
  readonly code: GatewayErrorCode
  readonly status: number
  constructor(code: GatewayErrorCode, options?: { cause?: unknown; status?: number }) {
    super(ERRORS[code].message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'GatewayError'
    this.code = code
    this.status = options?.status ?? ERRORS[code].status
  }
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError
}
