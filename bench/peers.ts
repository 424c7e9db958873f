// The peer proxies measured beside nginx and the gateway: Go's stdlib httputil.ReverseProxy (built from
// bench/go-proxy/main.go with `go build`, golang-go installed from apt when missing) and a bare undici proxy
// (bench/undici-proxy.ts). Both run pinned to the proxy core; both answer ready once GET /100b works.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { HERE, ROOT, startScriptEnv, startScriptNode, startScriptNodeFlags, waitHttpOk, type BenchConfig } from './harness.js';
import { ensureBinary } from './nginx.js';
import { startProcess, type Tracked } from './procs.js';

/** Builds the Go proxy into `tmp`; null (with the reason) when go is missing or the build fails. */
export function buildGoProxy(tmp: string, aptLog: string): { bin: string; version: string } | { error: string } {
  const go = ensureBinary('go', ['golang-go'], aptLog);
  if (go === null) return { error: 'go (golang-go) is not installed and could not be installed' };
  const bin = join(tmp, 'go-proxy');
  // GOTOOLCHAIN=local: never download another toolchain; the file has no imports outside the stdlib.
  const env = { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '', CGO_ENABLED: '0' };
  const r = spawnSync(go, ['build', '-o', bin, join(ROOT, 'bench/go-proxy/main.go')], { env, cwd: tmp, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) return { error: `go build failed: ${(r.stderr || r.stdout || String(r.error)).trim()}` };
  const v = spawnSync(go, ['version'], { encoding: 'utf8' });
  return { bin, version: (v.stdout || '').trim().replace(/^go version\s*/, '') };
}

export async function startGoProxy(cfg: BenchConfig, bin: string, port: number, backendPort: number, logDir: string): Promise<Tracked> {
  const p = startProcess({
    name: 'go-proxy',
    command: bin,
    args: ['-listen', `127.0.0.1:${port}`, '-backend', `http://127.0.0.1:${backendPort}`],
    cpus: cfg.proxyCpu,
    logPath: join(logDir, 'go-proxy.log'),
  });
  await waitHttpOk(`http://127.0.0.1:${port}/100b`, {}, 10_000, p);
  return p;
}

export async function startUndiciProxy(cfg: BenchConfig, port: number, backendPort: number, logDir: string): Promise<Tracked> {
  const p = startProcess({
    name: 'undici-proxy',
    // The same node and node flags as the gateway's npm start.
    command: startScriptNode(ROOT),
    args: [...startScriptNodeFlags(ROOT), join(HERE, 'undici-proxy.js'), '--port', String(port), '--backend', `http://127.0.0.1:${backendPort}`],
    // The same allocator settings as the gateway's npm start: the floor is measured alike.
    env: { ...process.env, ...startScriptEnv(ROOT) },
    cpus: cfg.proxyCpu,
    logPath: join(logDir, 'undici-proxy.log'),
  });
  await waitHttpOk(`http://127.0.0.1:${port}/100b`, {}, 10_000, p);
  return p;
}
