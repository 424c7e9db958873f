/**
 * A fleet for one test file: a real redis-server, the fake Daytona API (deleting the reference
 * keys in that Redis on changes, as the real API does), a fake runner, and two or more gateway
 * processes started like `npm start` with the same secret and REDIS_*.
 */
import type { OutgoingHttpHeaders } from 'node:http'
import { FakeControlPlane } from '../../fakes/control-plane.js'
import type { RunnerInfo, SandboxInit } from '../../fakes/control-plane.js'
import { FakeRunner } from '../../fakes/runner.js'
import { daytonaEnv, startGateway } from '../../helpers/gateway.js'
import type { GatewayProcess } from '../../helpers/gateway.js'
import { freePort, newId, request } from '../../helpers/http.js'
import type { Reply } from '../../helpers/http.js'
import { DOMAIN, RUNNER_KEY, addTestSandbox } from '../../helpers/stack.js'
import type { SandboxHandle } from '../../helpers/stack.js'
import { RedisServer } from './redis-server.js'
import type { TestRedisClient } from './redis-server.js'

export { DOMAIN }
export const FLEET_SECRET = 'fleet-tests-session-secret-0123456789abcdef'
/**
 * The fleet tests assert one API call, one start, one session per ticket across replicas: with the
 * SPEC's 100 ms a loaded CI machine's Redis can count as down and rightly fall back to the API.
 * The outage tests set the SPEC value (REDIS_COMMAND_TIMEOUT_MS=100) themselves.
 */
export const SLOW_CI_REDIS_TIMEOUT_MS = '1000'

export interface Fleet {
  readonly redis: RedisServer
  /** A client of that Redis for assertions. */
  readonly r: TestRedisClient
  readonly cp: FakeControlPlane
  readonly runner: FakeRunner
  readonly runnerInfo: RunnerInfo
  readonly gws: GatewayProcess[]
  host(port: number | string, label: string): string
  sandbox(init?: SandboxInit & { readonly prefix?: string }): SandboxHandle
  send(gw: number, host: string, path?: string, opts?: { method?: string; headers?: OutgoingHttpHeaders; timeoutMs?: number }): Promise<Reply>
  close(): Promise<void>
}

export interface FleetOptions {
  readonly replicas?: number
  readonly env?: Readonly<Record<string, string>>
  /** Per-replica extra environment (e.g. METRICS_PORT). */
  readonly perReplica?: (i: number, redis: RedisServer) => Promise<Record<string, string>> | Record<string, string>
  readonly redisPassword?: string
}

export async function startFleet(o: FleetOptions = {}): Promise<Fleet> {
  const redis = await RedisServer.start(o.redisPassword === undefined ? {} : { password: o.redisPassword })
  const cp = await FakeControlPlane.start()
  const runner = await FakeRunner.start()
  const r = await redis.client()
  cp.redis = r
  const runnerInfo: RunnerInfo = { id: newId('runner'), proxyUrl: runner.url, apiUrl: runner.url, apiKey: RUNNER_KEY }
  const gws: GatewayProcess[] = []
  const stopAll = async (): Promise<void> => {
    await Promise.all(gws.map((g) => g.stop()))
    await runner.close()
    await cp.close()
    await redis.close()
  }
  try {
    const n = o.replicas ?? 2
    const envs: Record<string, string>[] = []
    for (let i = 0; i < n; i++) {
      envs.push(daytonaEnv(cp.url, { SESSION_SECRET: FLEET_SECRET, ...redis.env(), REDIS_COMMAND_TIMEOUT_MS: SLOW_CI_REDIS_TIMEOUT_MS, ...(o.env ?? {}), ...(o.perReplica === undefined ? {} : await o.perReplica(i, redis)) }))
    }
    // Started together: start-up is dominated by process launch on this small machine.
    gws.push(...await Promise.all(envs.map((env) => startGateway({ env, startTimeoutMs: 30_000 }))))
  } catch (err) {
    await stopAll()
    throw err
  }
  return {
    redis,
    r,
    cp,
    runner,
    runnerInfo,
    gws,
    host: (port, label) => `${port}-${label}.${DOMAIN}`,
    sandbox: (init = {}) => addTestSandbox(cp, runnerInfo, init),
    send(i, host, path = '/', opts = {}) {
      const gw = gws[i]
      if (gw === undefined) throw new Error(`no replica ${i}`)
      return request({ port: gw.port, host, path, method: opts.method ?? 'GET', headers: opts.headers ?? {}, timeoutMs: opts.timeoutMs ?? 15_000 })
    },
    close: stopAll,
  }
}

/** Reads one gauge/counter sample from a Prometheus text page. */
export function sample(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    if (labels === '' ? /^ /.test(rest) : rest.startsWith(`{${labels}}`) || rest.startsWith(labels)) {
      return Number(line.slice(line.lastIndexOf(' ') + 1))
    }
  }
  return undefined
}

export { freePort }
