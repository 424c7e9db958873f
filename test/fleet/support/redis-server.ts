/**
 * A real `redis-server` (Debian package; installed with apt-get when missing) on a free loopback
 * port, without persistence, for one test file. It can be killed, paused (SIGSTOP) and resumed,
 * and restarted on the same port, so tests can take Redis away mid-load.
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import net from 'node:net'
import { createClient } from 'redis'
import { freePort } from '../../helpers/http.js'

export type TestRedisClient = ReturnType<typeof createClient>

let ensured: Promise<string | null> | undefined

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0
}

/** Null when redis-server is there (installing it if needed), else why not (printed loudly). */
export function ensureRedisServer(): Promise<string | null> {
  ensured ??= Promise.resolve().then(() => {
    if (which('redis-server')) return null
    process.stderr.write('\n[fleet tests] redis-server is missing: running apt-get update && apt-get install -y redis-server …\n')
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    // Another test file may be installing at the same time: dpkg's own lock makes one wait; retry a few times.
    let why: string | null = 'not attempted'
    for (let i = 0; i < 3 && why !== null; i++) {
      const update = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update'], { env, encoding: 'utf8', timeout: 5 * 60_000 })
      const inst = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', 'redis-server'], { env, encoding: 'utf8', timeout: 10 * 60_000 })
      why = which('redis-server') ? null : `apt-get update (${update.status}) / install -y redis-server (${inst.status}) failed: ${(inst.stderr ?? '').slice(-600)}`
    }
    if (why !== null) {
      const bar = '!'.repeat(78)
      process.stderr.write(`\n${bar}\n!! FLEET TESTS SKIPPED: redis-server is not available.\n!! ${why}\n${bar}\n\n`)
    }
    return why
  })
  return ensured
}

/** True once something answers a RESP PING (+PONG, or -NOAUTH when a password is set). */
function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    const done = (ok: boolean): void => { s.destroy(); resolve(ok) }
    s.setTimeout(500, () => done(false))
    s.once('error', () => done(false))
    s.once('data', (d: Buffer) => done(d.toString().startsWith('+PONG') || d.toString().startsWith('-NOAUTH')))
    s.write('PING\r\n')
  })
}

export class RedisServer {
  readonly port: number
  readonly password: string | undefined
  #proc: ChildProcess | undefined
  #clients: TestRedisClient[] = []

  private constructor(port: number, password: string | undefined) {
    this.port = port
    this.password = password
  }

  static async start(o: { password?: string } = {}): Promise<RedisServer> {
    const r = new RedisServer(await freePort(), o.password)
    await r.#spawn()
    return r
  }

  get pid(): number {
    const pid = this.#proc?.pid
    if (pid === undefined) throw new Error('redis-server is not running')
    return pid
  }

  async #spawn(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning']
    if (this.password !== undefined) args.push('--requirepass', this.password)
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] })
    this.#proc = proc
    const deadline = Date.now() + 10_000
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}`)
      if (await pingOnce(this.port)) return
      if (Date.now() > deadline) throw new Error('redis-server did not answer PING within 10 s')
      await new Promise<void>((r) => setTimeout(r, 25))
    }
  }

  /** SIGKILL: connections are cut at once. */
  async kill(): Promise<void> {
    const p = this.#proc
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return
    const gone = new Promise<void>((r) => p.once('exit', () => r()))
    p.kill('SIGKILL')
    await gone
    this.#proc = undefined
  }

  /** A fresh, empty server on the same port. */
  async restart(): Promise<void> {
    await this.kill()
    await this.#spawn()
  }

  /** SIGSTOP: sockets stay open, nothing answers (the "paused" case). */
  pause(): void { this.#proc?.kill('SIGSTOP') }
  resume(): void { this.#proc?.kill('SIGCONT') }

  /** A connected client for assertions and for playing the Daytona API (closed by close()). */
  async client(): Promise<TestRedisClient> {
    const c = createClient({ socket: { host: '127.0.0.1', port: this.port, reconnectStrategy: false }, ...(this.password === undefined ? {} : { password: this.password }) })
    c.on('error', () => { /* the test sees failures through commands */ })
    await c.connect()
    this.#clients.push(c)
    return c
  }

  env(): Record<string, string> {
    return { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(this.port), ...(this.password === undefined ? {} : { REDIS_PASSWORD: this.password }) }
  }

  async close(): Promise<void> {
    for (const c of this.#clients) { try { c.destroy() } catch { /* closed */ } }
    this.resume()
    await this.kill()
  }
}
