// control-plane/ owns talking to the sandbox platform (SPEC §2): one interface (this file), two
// implementations: the Daytona API (http.ts) and the file-backed embedded platform (embedded.ts).

/** What the gateway needs of a runner (Daytona `RunnerFull`, trimmed). */
export interface Runner {
  readonly id?: string
  /** Base URL of the runner's proxy: previews go to `{proxyUrl}/sandboxes/{id}/toolbox/…`. */
  readonly proxyUrl: string
  /** Sent as `X-Daytona-Authorization: Bearer {apiKey}`; never logged. */
  readonly apiKey: string
  readonly apiUrl?: string
  /**
   * Embedded control plane only: ports served by a plain upstream (`http://127.0.0.1:5173`),
   * forwarded as `{upstream}{path}` with no runner prefix and no runner key.
   */
  readonly upstreams?: Readonly<Record<string, string>>
}

/** Where a build-log stream comes from (SPEC §6 build-log routes). */
export interface BuildLogSource {
  readonly apiUrl: string
  readonly apiKey: string
  readonly snapshotRef: string
}

export interface OidcSettings {
  readonly issuer?: string
  readonly clientId?: string
  readonly audience?: string
}

/** `GET /sandbox/{id}` with a user's bearer: the sandbox exists for them, does not (404), or other. */
export type UserSandboxAnswer = 'found' | 'not_found' | 'refused'

/**
 * The control plane. Every method returns a definite answer ("yes"/"no"/value/null) or throws
 * `GatewayError('CONTROL_PLANE_UNAVAILABLE')` after its retries: a failure is never a "no".
 * `signal` aborts the call when nobody waits for the answer any more.
 */
export interface ControlPlane {
  readonly kind: 'daytona' | 'embedded'
  isPublic(sandboxId: string, signal?: AbortSignal): Promise<boolean>
  validatePreviewToken(sandboxId: string, token: string, signal?: AbortSignal): Promise<boolean>
  /** `bearer` is the user's own token: it is sent as the Authorization of this call. */
  hasAccess(sandboxId: string, bearer: string, signal?: AbortSignal): Promise<boolean>
  /** The sandbox id a signed preview token stands for, or null when invalid, expired or revoked. */
  sandboxIdFromSignedToken(token: string, port: number, signal?: AbortSignal): Promise<string | null>
  /** null: no runner knows this sandbox. */
  runnerBySandbox(sandboxId: string, signal?: AbortSignal): Promise<Runner | null>
  /** SPEC §10: the key signed toolbox file URLs are checked with; null when the platform has none. */
  signingKey(sandboxId: string, signal?: AbortSignal): Promise<string | null>
  /** Whether `bearer` (a user's) sees the sandbox: tells an unknown sandbox from a refused credential. */
  sandboxForUser(sandboxId: string, bearer: string, signal?: AbortSignal): Promise<UserSandboxAnswer>
  /** Detached: never cancelled by the request that caused it. Never throws. */
  postLastActivity(sandboxId: string): Promise<void>
  /** `DaytonaConfiguration.oidc`, or null when the platform has none. */
  oidcSettings(signal?: AbortSignal): Promise<OidcSettings | null>
  /** null: the bearer is not accepted for this sandbox/snapshot, or it has no build. */
  buildLogSource(kind: 'sandbox' | 'snapshot', id: string, bearer: string, signal?: AbortSignal): Promise<BuildLogSource | null>
  /**
   * SPEC §10: the sandbox's lifecycle state (Daytona `SandboxState`: `started`, `stopped`, …) from
   * `GET /sandbox/{id}` with the gateway key; null when the platform does not know the sandbox.
   */
  sandboxState(sandboxId: string, signal?: AbortSignal): Promise<string | null>
  /** SPEC §10 wake on visit: `POST /sandbox/{id}/start`. Detached, tried once; false when refused or failed. Never throws. */
  startSandbox(sandboxId: string): Promise<boolean>
  /**
   * SPEC §10: does this sandbox show the preview warning? `GET /preview/{idOrToken}/preview-warning`,
   * with `port` when the label is a signed token.
   */
  previewWarning(idOrToken: string, port: number | undefined, signal?: AbortSignal): Promise<boolean>
  /** Subscribe to "answers may have changed" (embedded file reloads); returns an unsubscribe. */
  onChange?(listener: (sandboxId: string | null) => void): () => void
  close(): Promise<void>
}
