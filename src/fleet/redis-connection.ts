import { createClient, ErrorReply } from 'redis'
import type { Logger } from '../log.js'

export type RedisClient = ReturnType<typeof createClient>

export interface RedisSettings {
  readonly host: string
  readonly port: number
  readonly username?: string
  readonly password?: string
  readonly tls: boolean
  /** Bound of one command (SPEC §9: Redis slower than ~100 ms counts as down); default 100. */
  readonly commandTimeoutMs?: number
}

/** What `run` resolves with when Redis could not answer in time (down, paused, refusing). */
export const UNAVAILABLE: unique symbol = Symbol('redis unavailable')
export type Unavailable = typeof UNAVAILABLE

export interface RedisConnectionOptions {
  readonly settings: RedisSettings
  readonly log: Logger
  /** How often a paused Redis is probed while it is considered down. */
  readonly probeMs?: number
  /** Called on every up/down transition (the redis_up gauge, resyncs). */
  readonly onState?: (up: boolean) => void
  /** Messages of the channels given to subscribe(). */
  readonly onMessage?: (channel: string, message: string) => void
  /** The subscriber (re)connected: notifications may have been missed while it was away. */
  readonly onResubscribed?: () => void
  /** Redis answers again after an outage: answers cached meanwhile were not under its invalidation. */
  readonly onRecovered?: () => void
  /** How often an idle connection is checked, so the gauge and the log see an outage without traffic. */
  readonly heartbeatMs?: number
}

/**
 * A reply later than this many command timeouts is late: a command then counts as timed out only
 * after one more period (our event loop may have lagged), and a probe's PING does not bring Redis up.
 */
const LATE_FACTOR = 1.5

/** Reconnect with exponential backoff (50 ms → 2 s) and jitter, forever, in the background. */
function backoff(retries: number): number {
  return Math.min(50 * 2 ** Math.min(retries, 6), 2000) + Math.floor(Math.random() * 100)
}

/**
 * Two node-redis clients (commands, and a subscriber for pub/sub) under one availability state.
 * Redis is never allowed to fail or hang a request: the offline queue is disabled (a command on a
 * disconnected client is refused at once), every command is bounded by a short timeout, and a
 * timeout marks Redis down until a PING answers again. Callers then get UNAVAILABLE without
 * sending anything, and fall back to memory and the control plane. One warning per outage.
 */
export class RedisConnection {
  readonly client: RedisClient
  readonly #sub: RedisClient
  readonly #log: Logger
  readonly #timeoutMs: number
  readonly #probeMs: number
  readonly #onState: RedisConnectionOptions['onState']
  #up = false
  #outageLogged = false
  #everUp = false
  #probe: NodeJS.Timeout | undefined
  #closed = false
  #subDown = false
  readonly #heartbeat: NodeJS.Timeout
  readonly #onRecovered: RedisConnectionOptions['onRecovered']
  readonly #onMessage: RedisConnectionOptions['onMessage']

  constructor(o: RedisConnectionOptions) {
    this.#log = o.log
    this.#timeoutMs = o.settings.commandTimeoutMs ?? 100
    this.#probeMs = o.probeMs ?? 100
    this.#onState = o.onState
    const s = o.settings
    const options = {
      socket: s.tls
        ? { host: s.host, port: s.port, tls: true as const, connectTimeout: 1000, reconnectStrategy: backoff }
        : { host: s.host, port: s.port, connectTimeout: 1000, reconnectStrategy: backoff },
      ...(s.username === undefined ? {} : { username: s.username }),
      ...(s.password === undefined ? {} : { password: s.password }),
      disableOfflineQueue: true,
    }
    this.client = createClient(options)
    this.#sub = createClient(options)
    // node-redis emits 'error' on every failed reconnect: state transitions are what we log.
    this.client.on('error', (err: Error) => this.#down(describe(err)))
    this.client.on('end', () => this.#down('connection closed'))
    // Connected is not answering: a Redis that now wants a password accepts the socket and then
    // refuses every command. Up only once a PING answers.
    this.client.on('ready', () => this.#tryProbe())
    this.#sub.on('error', () => { this.#subDown = true })
    this.#sub.on('end', () => { this.#subDown = true })
    this.#sub.on('ready', () => {
      if (this.#subDown) { this.#subDown = false; o.onResubscribed?.() }
    })
    this.#onMessage = o.onMessage
    this.#onRecovered = o.onRecovered
    this.#heartbeat = setInterval(() => { if (this.#up) void this.run((c) => c.ping()) }, o.heartbeatMs ?? 1000)
    this.#heartbeat.unref()
  }

  get up(): boolean { return this.#up }

  /**
   * Like run(), but when Redis was marked down by a timeout less than a second ago (which on a
   * starved machine may be this process or Redis not being scheduled, not an outage), waits up
   * to `graceMs` for the next PING to answer and tries once more. Used where falling back costs
   * a duplicate control-plane call (leases, claims). A real outage is past its first second
   * quickly, and from then on this answers UNAVAILABLE at once like run().
   */
  async runPatient<T>(op: (c: RedisClient) => Promise<T>, graceMs = 300): Promise<T | Unavailable> {
    const first = await this.run(op)
    if (first !== UNAVAILABLE || !this.#suspect()) return first
    if (!await this.#back(graceMs)) return UNAVAILABLE
    return this.run(op)
  }

  #timedOutAt = 0
  #backWaiters = new Set<() => void>()

  #suspect(): boolean {
    return !this.#up && this.#timedOutAt !== 0 && performance.now() - this.#timedOutAt < 1000
  }

  #back(ms: number): Promise<boolean> {
    if (this.#up) return Promise.resolve(true)
    return new Promise<boolean>((resolve) => {
      const done = (): void => { clearTimeout(timer); this.#backWaiters.delete(done); resolve(this.#up) }
      const timer = setTimeout(done, ms)
      this.#backWaiters.add(done)
    })
  }

  /** Connects in the background: start-up never waits for Redis. */
  start(channels: readonly string[]): void {
    this.client.connect().catch(() => { /* 'error' handler logs; reconnects go on */ })
    this.#sub.connect().then(
      () => this.#sub.subscribe([...channels], (message: string, channel: string) => this.#onMessage?.(channel, message)),
      () => { this.#subDown = true },
    ).catch(() => { this.#subDown = true })
    // A first connection that never succeeds is an outage too: say so once.
    setTimeout(() => { if (!this.#everUp && !this.#closed) this.#down('no connection yet') }, 2000).unref()
  }

  /**
   * Runs one command (or MULTI) bounded by the command timeout. Redis being down, slow or
   * refusing resolves UNAVAILABLE; a reply error (a bug or a wrong type) resolves UNAVAILABLE
   * without marking Redis down. Never rejects.
   */
  run<T>(op: (c: RedisClient) => Promise<T>): Promise<T | Unavailable> {
    if (!this.#up) return Promise.resolve(UNAVAILABLE)
    return new Promise<T | Unavailable>((resolve) => {
      let settled = false
      let extended = false
      const started = performance.now()
      // A slow process must not be mistaken for a slow Redis. After a busy event loop the timer
      // phase runs before the poll phase that would read a reply already in the socket: look once
      // more after that poll (setImmediate). And a timer that fired late says this process was
      // lagging: give Redis one more period, once.
      const onTimer = (): void => {
        if (settled) return
        const late = performance.now() - started > this.#timeoutMs * LATE_FACTOR
        setImmediate(() => {
          if (settled) return
          if (late && !extended) { extended = true; timer = setTimeout(onTimer, this.#timeoutMs); return }
          settled = true
          if (this.#up) this.#timedOutAt = performance.now()
          this.#down(`command slower than ${this.#timeoutMs} ms`, true)
          resolve(UNAVAILABLE)
        })
      }
      let timer = setTimeout(onTimer, this.#timeoutMs)
      let pending: Promise<T>
      try { pending = op(this.client) } catch (err) { pending = Promise.reject(err) }
      pending.then(
        (v) => { if (settled) return; settled = true; clearTimeout(timer); resolve(v) },
        (err: unknown) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          if (!(err instanceof ErrorReply) || isRefusal(err)) this.#down(describe(err))
          resolve(UNAVAILABLE)
        },
      )
    })
  }

  #setUp(): void {
    if (this.#closed || this.#up) return
    this.#up = true
    const recovered = this.#everUp
    this.#everUp = true
    if (this.#probe !== undefined) { clearInterval(this.#probe); this.#probe = undefined }
    if (recovered) this.#onRecovered?.()
    for (const done of [...this.#backWaiters]) done()
    if (this.#pendingWarn !== undefined) { clearTimeout(this.#pendingWarn); this.#pendingWarn = undefined }
    if (this.#outageLogged) this.#log.info('redis available again; shared cache on')
    else if (!recovered) this.#log.info('redis connected; shared cache on')
    this.#outageLogged = false
    this.#onState?.(true)
  }

  #pendingWarn: NodeJS.Timeout | undefined

  /** `slow`: a timeout, which may be a blip of a starved machine: warned only if it lasts 1 s. */
  #down(reason: string, slow = false): void {
    if (this.#closed) return
    const wasUp = this.#up
    this.#up = false
    if (!this.#outageLogged) {
      if (!slow) this.#warn(reason)
      else if (this.#pendingWarn === undefined) {
        this.#pendingWarn = setTimeout(() => { this.#pendingWarn = undefined; if (!this.#up) this.#warn(reason) }, 1000)
        this.#pendingWarn.unref()
      }
    }
    if (wasUp) this.#onState?.(false)
    // A paused Redis keeps its socket open: probe it until it answers. A closed socket is
    // reconnected by node-redis ('ready' brings us up).
    if (this.#probe === undefined) {
      this.#probe = setInterval(() => this.#tryProbe(), this.#probeMs)
      this.#probe.unref()
      setImmediate(() => this.#tryProbe())
    }
  }

  #warn(reason: string): void {
    if (this.#outageLogged || this.#closed) return
    if (this.#pendingWarn !== undefined) { clearTimeout(this.#pendingWarn); this.#pendingWarn = undefined }
    this.#outageLogged = true
    this.#log.warn({ reason }, 'redis unavailable; serving from memory and the control plane until it is back')
  }

  #probing = false
  /**
   * Up again only on a PING answered as fast as a command must be: a slow Redis (SPEC §9: > the
   * command timeout) answers every PING, late, and counting those would flap it up and down, each
   * flap costing the requests of that moment a timeout.
   */
  #tryProbe(): void {
    if (this.#probing || !this.client.isReady) return
    this.#probing = true
    const started = performance.now()
    const timer = setTimeout(() => { this.#probing = false }, this.#timeoutMs)
    let ping: Promise<string>
    try { ping = this.client.ping() } catch (err) { ping = Promise.reject(err) }
    ping.then(
      () => {
        clearTimeout(timer)
        this.#probing = false
        if (performance.now() - started <= this.#timeoutMs * LATE_FACTOR) this.#setUp()
      },
      () => { clearTimeout(timer); this.#probing = false },
    )
  }

  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#heartbeat)
    if (this.#pendingWarn !== undefined) clearTimeout(this.#pendingWarn)
    if (this.#probe !== undefined) clearInterval(this.#probe)
    this.#up = false
    // destroy(): a paused Redis must not hold the drain.
    for (const c of [this.client, this.#sub]) {
      try { c.destroy() } catch { /* already closed */ }
    }
  }
}

/** Redis answers, but refuses us (password changed, ACL): an outage like any other. */
function isRefusal(err: ErrorReply): boolean {
  return /^(NOAUTH|WRONGPASS|NOPERM)/.test(err.message)
}

/** Error text without anything that could hold a credential (messages only, no config). */
function describe(err: unknown): string {
  if (err instanceof Error) return err.name === 'Error' ? err.message.slice(0, 200) : `${err.name}: ${err.message.slice(0, 200)}`
  return 'unknown error'
}
