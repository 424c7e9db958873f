// Fleet-wide coalescing (SPEC §9): two gateways sharing one redis-server in front of one fake API;
// a burst of cold requests split over both replicas must cost one control-plane call per endpoint in all.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { request } from 'undici';
import { errMessage, HERE, latencyOf, runClient, startGateway, TOKEN, verdict, type BenchContext } from '../harness.js';
import { hasCommand, startProcess, type Tracked } from '../procs.js';
import { fmtNum, freePort, isRecord, median, num, sleep } from '../util.js';

const ENDPOINTS = ['public', 'validate', 'runner', 'last-activity'] as const;

/** redis-server from Debian's package, installed when missing (the bench runs as root on CI-like machines). */
function ensureRedis(): boolean {
  if (hasCommand('redis-server')) return true;
  const r = spawnSync('sh', ['-c', 'apt-get install -y redis-server >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y redis-server >/dev/null 2>&1)'], { stdio: 'ignore' });
  return r.status === 0 && hasCommand('redis-server');
}

export async function runFleetCold(ctx: BenchContext): Promise<void> {
  const { cfg, report, logDir } = ctx;
  ctx.step(`fleet cold burst: 2 replicas + 1 Redis, ${cfg.coldConcurrency} concurrent cold requests split over both × ${cfg.coldRounds} rounds`);
  if (!ensureRedis()) { ctx.note('fleet cold burst skipped: redis-server could not be installed'); return; }
  const gateways: Tracked[] = [];
  try {
    const [redisPort, cpPort, runnerPort, gwA, gwB] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const redis = startProcess({ name: 'redis', command: 'redis-server', args: ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], logPath: join(logDir, 'redis.log') });
    for (let i = 0; i < 100 && spawnSync('redis-cli', ['-p', String(redisPort), 'ping']).stdout?.toString().trim() !== 'PONG'; i++) await sleep(50);
    void redis;
    const cp = startProcess({
      name: 'fake-daytona-fleet',
      command: process.execPath,
      args: [join(HERE, 'servers.js'), 'fake-daytona', '--port', String(cpPort), '--runner-port', String(runnerPort), '--delay', String(cfg.coldDelayMs), '--api-key', 'bench-key', '--token', TOKEN, '--runner-key', 'k'],
      logPath: join(logDir, 'fake-daytona-fleet.log'),
      protocol: true,
    });
    await cp.waitForJson((m) => m['ready'] === true, 10_000);
    const cpUrl = `http://127.0.0.1:${cpPort}`;
    const env = { DAYTONA_API_URL: cpUrl, PROXY_API_KEY: 'bench-key', SESSION_SECRET: randomBytes(32).toString('hex'), REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redisPort) };
    gateways.push(await startGateway(ctx, 'gateway-fleet-a', gwA, env), await startGateway(ctx, 'gateway-fleet-b', gwB, env));
    const stats = async (): Promise<Record<string, unknown>> => {
      const res = await request(`${cpUrl}/__stats`);
      const v: unknown = await res.body.json();
      return isRecord(v) ? v : {};
    };
    const half = Math.max(1, Math.floor(cfg.coldConcurrency / 2));
    const burst = (id: string, label: string): Promise<Record<string, unknown>[]> => Promise.all([gwA, gwB].map((port, i) => runClient(
      ctx,
      'cold',
      { origin: `http://127.0.0.1:${port}`, path: '/', healthHost: 'localhost', headers: { Host: `8080-${id}.localhost`, 'X-Daytona-Preview-Token': TOKEN }, concurrency: half },
      `fleet-${label}-${i === 0 ? 'a' : 'b'}`,
      60_000,
    )));
    // Warm both processes (JIT, keep-alive pools, Redis connections) on throwaway ids.
    for (let i = 0; i < 2; i++) await burst(`fleet-warmup-${i}-${randomBytes(4).toString('hex')}`, `warmup-${i}`);
    await sleep(Math.max(500, cfg.coldDelayMs * 10));
    await request(`${cpUrl}/__reset`).then((r) => r.body.dump());
    const calls: string[] = [];
    const exact: boolean[] = [];
    const p50s: number[] = [];
    const rows: string[][] = [];
    for (let r = 0; r < cfg.coldRounds; r++) {
      const id = `fleet-cold-${r}-${randomBytes(4).toString('hex')}`;
      const msgs = await burst(id, `r${r + 1}`);
      await sleep(Math.max(500, cfg.coldDelayMs * 10)); // last-activity is detached from the requests
      const s = await stats();
      const counts = isRecord(s['counts']) ? s['counts'] : {};
      const mine = isRecord(counts[id]) ? counts[id] : {};
      const extra = Object.keys(mine).filter((k) => !(ENDPOINTS as readonly string[]).includes(k));
      const lat = msgs.map((m) => latencyOf(m));
      const p50 = median(lat.map((l) => l['p50'] ?? Number.NaN));
      const statuses = msgs.map((m) => (isRecord(m['statuses']) ? JSON.stringify(m['statuses']) : '?')).join(' + ');
      exact.push(ENDPOINTS.every((e) => num(mine[e], 0) === 1) && extra.length === 0);
      calls.push(ENDPOINTS.map((e) => String(num(mine[e], 0))).join('/') + (extra.length > 0 ? '+' : ''));
      p50s.push(p50);
      rows.push([`r${r + 1}`, `${half} + ${half}`, ...ENDPOINTS.map((e) => String(num(mine[e], 0))), extra.join(', '), statuses, fmtNum(p50, 1), fmtNum(Math.max(...lat.map((l) => l['max'] ?? Number.NaN)), 1)]);
      console.error(`   fleet r${r + 1}: calls ${ENDPOINTS.map((e) => `${e}=${String(num(mine[e], 0))}`).join(' ')}; ${statuses}; cold p50 ${fmtNum(p50, 1)} ms`);
      await request(`${cpUrl}/__reset`).then((x) => x.body.dump());
    }
    report.summary.push({
      metric: `Fleet cold burst: control-plane calls per fresh sandbox, ${half} + ${half} concurrent cold requests on 2 replicas sharing one Redis (public/validate/runner/last-activity, per round)`,
      direct: '',
      nginx: '',
      gateway: calls.join(', ') + ` (cold p50 ${fmtNum(median(p50s), 1)} ms)`,
      vsNginx: '',
      vsDirect: '',
      target: 'exactly 1 each',
      verdict: verdict(exact.length > 0 ? exact.every(Boolean) : null),
    });
    report.details.push({
      title: `Fleet-wide coalescing (two gateways, one redis-server, a fake API answering after ${cfg.coldDelayMs} ms; a fresh private sandbox per round, half the burst on each replica)`,
      header: ['Round', 'concurrent', 'public', 'validate', 'runner', 'last-activity', 'other calls', 'statuses (A + B)', 'cold p50 ms', 'cold max ms'],
      rows,
    });
  } catch (err) {
    ctx.note(`fleet cold section failed: ${errMessage(err)}`);
  } finally {
    for (const g of gateways) await g.stop();
  }
}
