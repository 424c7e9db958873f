/**
 * One e2e "stack" per test file: fake control plane + fake runner + a gateway in Daytona mode
 * pointed at them (PROXY_DOMAIN=preview.test). Sandboxes get unique ids so that the gateway's
 * caches never carry one test's answers into another.
 */
import type { OutgoingHttpHeaders } from 'node:http'
import { FakeControlPlane } from '../fakes/control-plane.js'
import type { FakeSandbox, RunnerInfo, SandboxInit } from '../fakes/control-plane.js'
import { FakeRunner } from '../fakes/runner.js'
import { daytonaEnv, startGateway } from './gateway.js'
import type { GatewayProcess } from './gateway.js'
import { newId, newToken, request } from './http.js'
import type { Reply } from './http.js'

export const DOMAIN = 'preview.test'
export const RUNNER_KEY = 'runner-secret-key-0f9e8d'

export interface SandboxHandle {
  readonly id: string
  /** A valid preview token of this sandbox. */
  readonly token: string
  /** A user bearer that `/preview/{id}/access` accepts. */
  readonly bearer: string
  readonly state: FakeSandbox
}

export interface Stack {
  readonly cp: FakeControlPlane
  readonly runner: FakeRunner
  readonly gw: GatewayProcess
  readonly runnerInfo: RunnerInfo
  /** `{port}-{label}.preview.test` */
  host(port: number | string, label: string): string
  /** A new sandbox with a unique id on the fake runner (private unless `public: true`). */
  sandbox(init?: SandboxInit & { readonly prefix?: string }): SandboxHandle
  /** Sends a request to the gateway. */
  send(host: string, path?: string, opts?: { method?: string; headers?: OutgoingHttpHeaders; body?: Buffer | string; timeoutMs?: number }): Promise<Reply>
  close(): Promise<void>
}

export async function startStack(extraEnv: Readonly<Record<string, string>> = {}, opts: { runnerKey?: string; apiKey?: string } = {}): Promise<Stack> {
  const cp = await FakeControlPlane.start(opts.apiKey === undefined ? {} : { apiKey: opts.apiKey })
  const runner = await FakeRunner.start()
  const runnerInfo: RunnerInfo = { id: newId('runner'), proxyUrl: runner.url, apiUrl: runner.url, apiKey: opts.runnerKey ?? RUNNER_KEY }
  let gw: GatewayProcess
  try {
    gw = await startGateway({ env: daytonaEnv(cp.url, { ...(opts.apiKey === undefined ? {} : { PROXY_API_KEY: opts.apiKey }), ...extraEnv }) })
  } catch (err) {
    await runner.close()
    await cp.close()
    throw err
  }
  const stack: Stack = {
    cp,
    runner,
    gw,
    runnerInfo,
    host: (port, label) => `${port}-${label}.${DOMAIN}`,
    sandbox: (init = {}) => addTestSandbox(cp, runnerInfo, init),
    send(host, path = '/', o = {}) {
      return request({ port: gw.port, host, path, method: o.method ?? 'GET', headers: o.headers ?? {}, ...(o.body === undefined ? {} : { body: o.body }), timeoutMs: o.timeoutMs ?? 15_000 })
    },
    async close() {
      await gw.stop()
      await runner.close()
      await cp.close()
    },
  }
  return stack
}

/** A new sandbox with a unique id, a preview token and a user bearer, on `runnerInfo` unless told otherwise. */
export function addTestSandbox(cp: FakeControlPlane, runnerInfo: RunnerInfo, init: SandboxInit & { readonly prefix?: string } = {}): SandboxHandle {
  const id = newId(init.prefix ?? 'sbx')
  const token = newToken('pt')
  const bearer = newToken('ub')
  const state = cp.addSandbox(id, {
    public: init.public ?? false,
    previewTokens: [token, ...(init.previewTokens ?? [])],
    bearers: [bearer, ...(init.bearers ?? [])],
    runner: init.runner === undefined ? runnerInfo : init.runner,
    buildInfo: init.buildInfo ?? null,
    ...(init.state === undefined ? {} : { state: init.state }),
    ...(init.previewWarning === undefined ? {} : { previewWarning: init.previewWarning }),
  })
  return { id, token, bearer, state }
}
