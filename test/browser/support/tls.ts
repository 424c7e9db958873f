/**
 * HTTPS set-up for the browser tests: a throw-away self-signed certificate for preview.test,
 * *.preview.test, other.test and *.other.test (openssl, in a temp dir), and a gateway started with
 * ENABLE_TLS whose readiness is probed over TLS (the shared helper probes plain http).
 */
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import https from 'node:https'
import { join } from 'node:path'
import { GATEWAY_ARGV, GatewayProcess, REPO_ROOT, gatewayEnv, tempDir } from '../../helpers/gateway.js'
import { freePort } from '../../helpers/http.js'

export interface TlsFiles {
  readonly dir: string
  readonly certFile: string
  readonly keyFile: string
  readonly cert: string
  readonly key: string
}

export function makeWildcardCert(): TlsFiles {
  const dir = tempDir('gw-tls-')
  const certFile = join(dir, 'cert.pem')
  const keyFile = join(dir, 'key.pem')
  const r = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
    '-keyout', keyFile, '-out', certFile,
    '-subj', '/CN=preview.test',
    '-addext', 'subjectAltName=DNS:preview.test,DNS:*.preview.test,DNS:other.test,DNS:*.other.test',
  ], { encoding: 'utf8', timeout: 30_000 })
  if (r.status !== 0) throw new Error(`openssl failed (${r.status}): ${r.stderr}`)
  return { dir, certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') }
}

function probe(port: number, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/health', servername: host, headers: { host }, rejectUnauthorized: false, agent: false, timeout: 1000 }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('timeout', () => req.destroy(new Error('probe timed out')))
    req.on('error', reject)
    req.end()
  })
}

/** Starts `node dist/src/main.js` with ENABLE_TLS and waits for `GET /health` over https. */
export async function startTlsGateway(env: Readonly<Record<string, string>>, tls: TlsFiles, timeoutMs = 15_000): Promise<GatewayProcess> {
  const port = env.PROXY_PORT !== undefined ? Number(env.PROXY_PORT) : await freePort()
  const full = gatewayEnv({ ENABLE_TLS: 'true', TLS_CERT_FILE: tls.certFile, TLS_KEY_FILE: tls.keyFile, ...env }, port)
  const child = spawn(process.execPath, GATEWAY_ARGV, { cwd: REPO_ROOT, env: full, stdio: ['ignore', 'pipe', 'pipe'] })
  const gw = new GatewayProcess(child, port, full)
  const host = (full.PROXY_DOMAIN ?? 'localhost').split(',')[0]?.trim() ?? 'localhost'
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (gw.exitInfo !== undefined) throw new Error(`TLS gateway exited during start-up (code ${gw.exitInfo.code}):\n${gw.output()}`)
    try {
      if (await probe(port, host) === 200) return gw
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await gw.stop(1000)
      throw new Error(`TLS gateway did not answer GET /health within ${timeoutMs} ms:\n${gw.output()}`)
    }
    await new Promise<void>((r) => setTimeout(r, 50))
  }
}
