import { createHmac } from 'node:crypto'
import { watchFile, unwatchFile, type Stats } from 'node:fs'
import { readRegistry, type Registry } from './registry.js'
import { writeSandboxState } from './registry-state.js'
import { shareLinkKey, verifyShareLink } from './share-link.js'
import type { BuildLogSource, ControlPlane, OidcSettings, Runner, UserSandboxAnswer } from './types.js'

export interface EmbeddedControlPlaneOptions {
  readonly file: string
  readonly secret: string
  readonly onReloadError?: (err: Error) => void
  readonly pollIntervalMs?: number
  /** How long an embedded "start" takes (the user sees the starting page meanwhile). */
  readonly startDelayMs?: number
}

const DEFAULT_START_DELAY_MS = 1500

/**
 * A control plane read from a file, so the gateway runs with no Daytona at all. The file is
 * polled (stat, every 500 ms: works on every filesystem, unlike fs.watch) and re-read on change;
 * a broken edit keeps the previous registry and is reported.
 */
export class EmbeddedControlPlane implements ControlPlane {
  readonly kind = 'embedded' as const
  #file: string
  #registry: Registry
  #key: Buffer
  #listeners = new Set<(sandboxId: string | null) => void>()
  #onReloadError: ((err: Error) => void) | undefined
  /** Last-activity posts received, for tests and the demo (sandbox id → count). */
  readonly activity = new Map<string, number>()
  /** Sandboxes being started: `starting` until the file says `started`. */
  #starting = new Map<string, NodeJS.Timeout>()
  #startDelayMs: number

  constructor(options: EmbeddedControlPlaneOptions) {
    this.#file = options.file
    this.#registry = readRegistry(options.file)
    this.#key = shareLinkKey(options.secret)
    this.#onReloadError = options.onReloadError
    this.#startDelayMs = options.startDelayMs ?? DEFAULT_START_DELAY_MS
    watchFile(this.#file, { interval: options.pollIntervalMs ?? 500, persistent: false }, (cur: Stats, prev: Stats) => {
      if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size) this.reload()
    })
  }

  get registry(): Registry {
    return this.#registry
  }

  /** Re-reads the file now; listeners drop their cached answers. */
  reload(): void {
    try {
      this.#registry = readRegistry(this.#file)
    } catch (err) {
      this.#onReloadError?.(err as Error)
      return
    }
    for (const l of this.#listeners) l(null)
  }

  onChange(listener: (sandboxId: string | null) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async isPublic(sandboxId: string): Promise<boolean> {
    return this.#registry.sandboxes.get(sandboxId)?.public === true
  }

  async validatePreviewToken(sandboxId: string, token: string): Promise<boolean> {
    return this.#registry.sandboxes.get(sandboxId)?.previewTokens.has(token) === true
  }

  async hasAccess(sandboxId: string, bearer: string): Promise<boolean> {
    return this.#registry.sandboxes.get(sandboxId)?.accessTokens.has(bearer) === true
  }

  async sandboxIdFromSignedToken(token: string, port: number): Promise<string | null> {
    const found = verifyShareLink(this.#key, token, port, this.#registry.sandboxes.keys())
    if (found === null || this.#registry.revokedLinks.has(found.linkId)) return null
    return found.sandboxId
  }

  async runnerBySandbox(sandboxId: string): Promise<Runner | null> {
    const s = this.#registry.sandboxes.get(sandboxId)
    // Only a started sandbox sits on a runner (a stopped one is what wake on visit is for).
    return s !== undefined && s.state === 'started' && !this.#starting.has(sandboxId) ? s.runner : null
  }

  async sandboxState(sandboxId: string): Promise<string | null> {
    if (this.#starting.has(sandboxId)) return 'starting'
    return this.#registry.sandboxes.get(sandboxId)?.state ?? null
  }

  /** Marks the sandbox `starting`, then writes `started` into the registry file after the delay. */
  async startSandbox(sandboxId: string): Promise<boolean> {
    const s = this.#registry.sandboxes.get(sandboxId)
    if (s === undefined || (s.state !== 'stopped' && s.state !== 'archived') || this.#starting.has(sandboxId)) return false
    const timer = setTimeout(() => {
      this.#starting.delete(sandboxId)
      try {
        writeSandboxState(this.#file, sandboxId, 'started')
      } catch (err) {
        this.#onReloadError?.(err as Error)
      }
      this.reload()
    }, this.#startDelayMs)
    timer.unref()
    this.#starting.set(sandboxId, timer)
    for (const l of this.#listeners) l(sandboxId)
    return true
  }

  async previewWarning(idOrToken: string, port: number | undefined): Promise<boolean> {
    let s = this.#registry.sandboxes.get(idOrToken)
    if (s === undefined && port !== undefined) {
      const id = await this.sandboxIdFromSignedToken(idOrToken, port)
      if (id !== null) s = this.#registry.sandboxes.get(id)
    }
    return s?.previewWarning !== false
  }

  /** Derived from the gateway secret: stable across restarts, distinct per sandbox. */
  async signingKey(sandboxId: string): Promise<string | null> {
    return this.#registry.sandboxes.has(sandboxId) ? embeddedSigningKey(this.#key, sandboxId) : null
  }

  async sandboxForUser(sandboxId: string, bearer: string): Promise<UserSandboxAnswer> {
    const s = this.#registry.sandboxes.get(sandboxId)
    return s === undefined ? 'not_found' : s.accessTokens.has(bearer) ? 'found' : 'refused'
  }

  async postLastActivity(sandboxId: string): Promise<void> {
    this.activity.set(sandboxId, (this.activity.get(sandboxId) ?? 0) + 1)
  }

  async oidcSettings(): Promise<OidcSettings | null> {
    return null
  }

  async buildLogSource(): Promise<BuildLogSource | null> {
    return null // build logs exist only on a Daytona platform
  }

  async close(): Promise<void> {
    for (const t of this.#starting.values()) clearTimeout(t)
    this.#starting.clear()
    unwatchFile(this.#file)
  }
}

/** The embedded signing key of a sandbox: HMAC of its id under the share-link key. */
export function embeddedSigningKey(key: Buffer, sandboxId: string): string {
  return createHmac('sha256', key).update(`signing-key:${sandboxId}`).digest('base64url')
}
