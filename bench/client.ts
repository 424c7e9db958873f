// Load clients, each run as its own process (pinned to the load-generator core) by bench/run.ts:
//   node dist/bench/client.js rate  '{"origin":…,"path":…,"headers":{…},"rate":1000,"durationMs":10000,"warmupMs":2000,"connections":64}'
//   node dist/bench/client.js ws-echo '{"url":…,"headers":{…},"connections":10,"window":16,"size":64,"durationMs":5000,"warmupMs":1000}'
//   node dist/bench/client.js ws-idle '{"url":…,"headers":{…},"count":5000,"concurrency":100}'   (then "close" on stdin)
//   node dist/bench/client.js cold '{"origin":…,"path":…,"headers":{…},"concurrency":200}'
// Results are JSON lines on stdout.
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import WebSocket from 'ws';
import { isRecord, percentileSorted } from './util.js';

function say(msg: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

function errText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

class Opts {
  readonly #o: Record<string, unknown>;
  constructor(json: string | undefined) {
    const v: unknown = JSON.parse(json ?? '{}');
    if (!isRecord(v)) throw new Error('options must be a JSON object');
    this.#o = v;
  }
  str(k: string): string {
    const v = this.#o[k];
    if (typeof v !== 'string') throw new Error(`option ${k} must be a string`);
    return v;
  }
  num(k: string, fallback?: number): number {
    const v = this.#o[k];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`option ${k} must be a number`);
    return v;
  }
  headers(): Record<string, string> {
    const v = this.#o['headers'];
    const out: Record<string, string> = {};
    if (!isRecord(v)) return out;
    for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
    return out;
  }
}

function latencySummary(sortedMs: readonly number[]): Record<string, number> {
  const n = sortedMs.length;
  const mean = n === 0 ? Number.NaN : sortedMs.reduce((a, b) => a + b, 0) / n;
  return {
    n,
    mean,
    min: sortedMs[0] ?? Number.NaN,
    p50: percentileSorted(sortedMs, 50),
    p90: percentileSorted(sortedMs, 90),
    p99: percentileSorted(sortedMs, 99),
    p999: percentileSorted(sortedMs, 99.9),
    max: sortedMs[n - 1] ?? Number.NaN,
  };
}

async function drain(body: AsyncIterable<Buffer>): Promise<number> {
  let n = 0;
  for await (const chunk of body) n += chunk.length;
  return n;
}

/**
 * Open-loop fixed-rate load: request i is due at start + i/rate whatever happened before (sending never waits
 * for an answer, and a busy pool queues the request inside undici, which is counted). Two latencies per request:
 * from the moment it was handed to undici (`latencyMs`) and from its due time (`scheduledLatencyMs`, which also
 * charges this client's own timer lateness — several ms at p99 on a VM, whatever the target).
 */
async function runRate(o: Opts): Promise<void> {
  const origin = o.str('origin');
  const path = o.str('path');
  const headers = o.headers();
  const rate = o.num('rate');
  const durationMs = o.num('durationMs');
  const warmupMs = o.num('warmupMs', 1000);
  const pool = new Pool(origin, { connections: o.num('connections', 64), pipelining: 1, keepAliveTimeout: 60_000 });
  const interval = 1000 / rate;
  const warmCount = Math.round((warmupMs / 1000) * rate);
  const total = warmCount + Math.round((durationMs / 1000) * rate);
  const lat = new Float64Array(total).fill(Number.NaN);
  const latSched = new Float64Array(total).fill(Number.NaN);
  let done = 0;
  let errors = 0;
  let non200 = 0;
  let firstError = '';
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const fire = (i: number, due: number): void => {
    const sent = performance.now();
    pool
      .request({ path, method: 'GET', headers })
      .then(async (res) => {
        await drain(res.body);
        if (res.statusCode !== 200) non200++;
        const end = performance.now();
        lat[i] = end - sent;
        latSched[i] = end - due;
      })
      .catch((err: unknown) => {
        errors++;
        if (firstError === '') firstError = errText(err);
      })
      .finally(() => {
        if (++done === total) finish();
      });
  };

  const start = performance.now() + 20;
  let next = 0;
  let maxLagMs = 0;
  const tick = (): void => {
    const now = performance.now();
    while (next < total && start + next * interval <= now) {
      const due = start + next * interval;
      if (next >= warmCount) maxLagMs = Math.max(maxLagMs, now - due);
      fire(next, due);
      next++;
    }
    if (next < total) setTimeout(tick, Math.max(0, start + next * interval - performance.now()));
  };
  setTimeout(tick, 20);
  await finished;
  const sortedOf = (a: Float64Array): number[] =>
    Array.from(a.subarray(warmCount))
      .filter((v) => !Number.isNaN(v))
      .sort((x, y) => x - y);
  const measured = sortedOf(lat);
  await pool.close();
  say({
    done: true,
    mode: 'rate',
    rate,
    sent: total - warmCount,
    ok: measured.length,
    errors,
    non200,
    firstError,
    maxSendLagMs: maxLagMs,
    latencyMs: latencySummary(measured),
    scheduledLatencyMs: latencySummary(sortedOf(latSched)),
  });
}

function openWs(url: string, headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: 15_000 });
    const onError = (err: Error): void => {
      ws.terminate();
      reject(err);
    };
    ws.once('error', onError);
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate();
      reject(new Error(`unexpected response ${String(res.statusCode)}`));
    });
    ws.once('open', () => {
      ws.off('error', onError);
      resolve(ws);
    });
  });
}

/** Closed-loop echo: each connection keeps `window` messages in flight. */
async function runWsEcho(o: Opts): Promise<void> {
  const url = o.str('url');
  const headers = o.headers();
  const connections = o.num('connections', 10);
  const windowSize = o.num('window', 16);
  const size = o.num('size', 64);
  const durationMs = o.num('durationMs');
  const warmupMs = o.num('warmupMs', 1000);
  const payload = Buffer.alloc(size, 0x61);
  const sockets = await Promise.all(Array.from({ length: connections }, () => openWs(url, headers)));
  let phase: 'warm' | 'measure' | 'stop' = 'warm';
  let received = 0;
  let badSize = 0;
  let errors = 0;
  let firstError = '';
  for (const ws of sockets) {
    ws.on('message', (data: Buffer) => {
      if (data.length !== size) badSize++;
      if (phase === 'measure') received++;
      if (phase !== 'stop') ws.send(payload);
    });
    ws.on('error', (err) => {
      errors++;
      if (firstError === '') firstError = errText(err);
    });
    for (let i = 0; i < windowSize; i++) ws.send(payload);
  }
  await new Promise((r) => setTimeout(r, warmupMs));
  received = 0;
  phase = 'measure';
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, durationMs));
  const got = received;
  const elapsed = performance.now() - t0;
  phase = 'stop';
  for (const ws of sockets) ws.terminate();
  say({
    done: true,
    mode: 'ws-echo',
    messages: got,
    seconds: elapsed / 1000,
    msgsPerSec: got / (elapsed / 1000),
    connections,
    window: windowSize,
    size,
    badSize,
    errors,
    firstError,
  });
}

/** Opens `count` idle WebSockets, reports, holds them until "close" arrives on stdin. */
async function runWsIdle(o: Opts): Promise<void> {
  const url = o.str('url');
  const headers = o.headers();
  const count = o.num('count');
  const concurrency = o.num('concurrency', 100);
  const open: WebSocket[] = [];
  let failed = 0;
  let droppedWhileIdle = 0;
  let firstError = '';
  let holding = false;
  let nextIndex = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (nextIndex < count) {
      nextIndex++;
      try {
        const ws = await openWs(url, headers);
        ws.on('error', () => {});
        ws.on('close', () => {
          if (holding) droppedWhileIdle++;
        });
        open.push(ws);
      } catch (err) {
        failed++;
        if (firstError === '') firstError = errText(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  holding = true;
  say({ event: 'opened', ok: open.length, failed, firstError, ms: performance.now() - t0 });
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line.trim() === 'close') break;
  }
  holding = false;
  const stillOpen = open.filter((ws) => ws.readyState === WebSocket.OPEN).length;
  for (const ws of open) ws.terminate();
  say({ event: 'closed', stillOpen, droppedWhileIdle });
  rl.close();
}

/**
 * Pre-opens `concurrency` keep-alive connections (GET /health on the base domain, three times, which also warms
 * this client), fires `concurrency` preview requests at once (cold), then the same burst again (warm: the baseline).
 */
async function runCold(o: Opts): Promise<void> {
  const origin = o.str('origin');
  const path = o.str('path');
  const headers = o.headers();
  const concurrency = o.num('concurrency');
  const healthHeaders = { host: o.str('healthHost') };
  const pool = new Pool(origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
  const burst = async (p: string, h: Record<string, string>): Promise<{ lat: number[]; statuses: Record<string, number>; firstError: string }> => {
    const statuses: Record<string, number> = {};
    let firstError = '';
    const t0 = performance.now();
    const lat = await Promise.all(
      Array.from({ length: concurrency }, () =>
        pool
          .request({ path: p, method: 'GET', headers: h })
          .then(async (res) => {
            await drain(res.body);
            const k = String(res.statusCode);
            statuses[k] = (statuses[k] ?? 0) + 1;
            return performance.now() - t0;
          })
          .catch((err: unknown) => {
            statuses['error'] = (statuses['error'] ?? 0) + 1;
            if (firstError === '') firstError = errText(err);
            return Number.NaN;
          }),
      ),
    );
    return { lat: lat.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b), statuses, firstError };
  };
  const warm1 = await burst('/health', healthHeaders);
  await burst('/health', healthHeaders);
  await burst('/health', healthHeaders);
  const connected = pool.stats.connected;
  const cold = await burst(path, headers);
  await new Promise((r) => setTimeout(r, 100));
  const warm = await burst(path, headers);
  await pool.close();
  say({
    done: true,
    mode: 'cold',
    connected,
    healthStatuses: warm1.statuses,
    statuses: cold.statuses,
    warmStatuses: warm.statuses,
    firstError: cold.firstError || warm.firstError || warm1.firstError,
    latencyMs: latencySummary(cold.lat),
    warmLatencyMs: latencySummary(warm.lat),
  });
}

const [mode, json] = process.argv.slice(2);
const run = async (): Promise<void> => {
  const o = new Opts(json);
  if (mode === 'rate') return runRate(o);
  if (mode === 'ws-echo') return runWsEcho(o);
  if (mode === 'ws-idle') return runWsIdle(o);
  if (mode === 'cold') return runCold(o);
  throw new Error(`unknown mode ${String(mode)}`);
};
run().then(
  () => process.exit(0),
  (err: unknown) => {
    say({ done: true, failed: true, error: errText(err) });
    process.exit(1);
  },
);
