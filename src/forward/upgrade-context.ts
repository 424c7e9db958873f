// What the listener hands the WebSocket tunnel (ws.ts): where the upgrade goes, and whom to tell.
import type { Duplex } from 'node:stream'
import type { GatewayErrorCode } from '../errors/codes.js'
import type { UpstreamErrorKind } from './http.js'
import type { ResponseHeaderOptions } from './headers.js'

/** Where an upgrade goes: the runner origin and the raw request target. */
export interface UpgradeTarget {
  readonly origin: string
  readonly path: string
}

/** `T`: the tunnel (ws.ts's WsTunnel), told back to the listener; generic so this file needs no import of it. */
export interface UpgradeContext<T> {
  readonly sandboxId: string
  /** What the gateway does to the runner's answer headers (cookies, CORS, toolbox Location), as for requests. */
  readonly response: ResponseHeaderOptions
  /** How long the runner may take to answer the handshake (UPSTREAM_TIMEOUT_SEC; 0: no limit). */
  readonly timeoutMs: number
  readonly onRunnerRefused: (sandboxId: string) => void
  /** Connection refused: the refusal to send in place of the plain 502 (SPEC §10), never a redirect. */
  readonly onUnreachable?: (client: Duplex, sandboxId: string) => Promise<{ code: GatewayErrorCode; extra: string }>
  readonly onOpen?: (tunnel: T) => void
  readonly onClose?: (tunnel: T) => void
  /** Called exactly once however the tunnel ends (connect failure included). */
  readonly onFinally?: (tunnel: T) => void
  readonly onUpstreamError?: (kind: UpstreamErrorKind) => void
  /** The status the client got: the runner's 101 or other answer, or the gateway's 502/504. */
  readonly onResult?: (status: number) => void
}

