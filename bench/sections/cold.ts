// Cold-cache coalescing in Daytona mode: a fake API (20 ms per call, calls counted), a fake runner, bursts of cold requests.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { request } from 'undici';
import { errMessage, HERE, latencyOf, runClient, startGateway, TOKEN, verdict, type BenchContext } from '../harness.js';
import { startProcess, type Tracked } from '../procs.js';
import { fmtNum, isRecord, median, num, sleep } from '../util.js';

export async function runCold(ctx: BenchContext): Promise<void> {
  const { cfg, report, ports, logDir } = ctx;
  const note = (m: string): void => ctx.note(m);
  ctx.step(`cold coalescing: fake Daytona API (${cfg.coldDelayMs} ms per call), ${cfg.coldConcurrency} concurrent cold requests × ${cfg.coldRounds} rounds`);
  let coldGateway: Tracked | null = null;
  try {
    const cp = startProcess({
      name: 'fake-daytona',
      command: process.execPath,
      args: [join(HERE, 'servers.js'), 'fake-daytona', '--port', String(ports.cp), '--runner-port', String(ports.runner), '--delay', String(cfg.coldDelayMs), '--api-key', 'bench-key', '--token', TOKEN, '--runner-key', 'k'],
      logPath: join(logDir, 'fake-daytona.log'),
      protocol: true,
    });
    await cp.waitForJson((m) => m['ready'] === true, 10_000);
    const cpUrl = `http://127.0.0.1:${ports.cp}`;
    coldGateway = await startGateway(ctx, 'gateway-daytona', ports.coldGateway, { DAYTONA_API_URL: cpUrl, PROXY_API_KEY: 'bench-key', SESSION_SECRET: randomBytes(32).toString('hex') });
    const stats = async (): Promise<Record<string, unknown>> => {
      const res = await request(`${cpUrl}/__stats`);
      const v: unknown = await res.body.json();
      return isRecord(v) ? v : {};
    };
    await sleep(300);
    const startupStats = await stats();
    // Warm the process (JIT, keep-alive connections to the API and the runner) on throwaway sandboxes:
    // what is measured below is a cold cache, not a cold process.
    for (const [i, concurrency] of [1, 1, cfg.coldConcurrency].entries()) {
      const id = `warmup-${i}-${randomBytes(4).toString('hex')}`;
      await runClient(
        ctx,
        'cold',
        { origin: `http://127.0.0.1:${ports.coldGateway}`, path: '/', healthHost: 'localhost', headers: { Host: `8080-${id}.localhost`, 'X-Daytona-Preview-Token': TOKEN }, concurrency },
        `cold-warmup-${i}`,
        60_000,
      );
    }
    await sleep(Math.max(500, cfg.coldDelayMs * 10));
    await request(`${cpUrl}/__reset`).then((r) => r.body.dump());
    const ENDPOINTS = ['public', 'validate', 'runner', 'last-activity'] as const;
    const rows: string[][] = [];
    const exactBy: Record<'single' | 'burst', boolean[]> = { single: [], burst: [] };
    const callsBy: Record<'single' | 'burst', string[]> = { single: [], burst: [] };
    const lat: Record<'single' | 'burst', { cold: Record<string, number>[]; warm: Record<string, number>[] }> = {
      single: { cold: [], warm: [] },
      burst: { cold: [], warm: [] },
    };
    const runRound = async (kind: 'single' | 'burst', label: string): Promise<void> => {
      const concurrency = kind === 'single' ? 1 : cfg.coldConcurrency;
      const id = `cold-${label}-${randomBytes(4).toString('hex')}`;
      const msg = await runClient(
        ctx,
        'cold',
        { origin: `http://127.0.0.1:${ports.coldGateway}`, path: '/', healthHost: 'localhost', headers: { Host: `8080-${id}.localhost`, 'X-Daytona-Preview-Token': TOKEN }, concurrency },
        `cold-${label}`,
        60_000,
      );
      await sleep(Math.max(500, cfg.coldDelayMs * 10)); // last-activity is detached from the requests
      const s = await stats();
      const counts = isRecord(s['counts']) ? s['counts'] : {};
      const mine = isRecord(counts[id]) ? counts[id] : {};
      const other = Object.entries(counts).filter(([k]) => k !== id).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
      const extra = Object.keys(mine).filter((k) => !(ENDPOINTS as readonly string[]).includes(k));
      const cold = latencyOf(msg);
      const warm = latencyOf(msg, 'warmLatencyMs');
      const statuses = `${isRecord(msg['statuses']) ? JSON.stringify(msg['statuses']) : '?'} then ${isRecord(msg['warmStatuses']) ? JSON.stringify(msg['warmStatuses']) : '?'}`;
      if (typeof msg['firstError'] === 'string' && msg['firstError'] !== '') note(`cold ${label}: ${msg['firstError']}`);
      exactBy[kind].push(ENDPOINTS.every((e) => num(mine[e], 0) === 1) && extra.length === 0);
      callsBy[kind].push(ENDPOINTS.map((e) => String(num(mine[e], 0))).join('/') + (extra.length > 0 ? '+' : ''));
      lat[kind].cold.push(cold);
      lat[kind].warm.push(warm);
      rows.push([
        label,
        String(concurrency),
        ...ENDPOINTS.map((e) => String(num(mine[e], 0))),
        extra.map((k) => `${k}: ${String(mine[k])}`).join(', ') + (other.length > 0 ? ` (other ids: ${other.join('; ')})` : ''),
        statuses,
        fmtNum(cold['min'] ?? Number.NaN, 1),
        fmtNum(cold['p50'] ?? Number.NaN, 1),
        fmtNum(cold['max'] ?? Number.NaN, 1),
        fmtNum(warm['p50'] ?? Number.NaN, 1),
        fmtNum(warm['max'] ?? Number.NaN, 1),
        String(num(msg['connected'], 0)),
      ]);
      console.error(
        `   ${label}: calls ${ENDPOINTS.map((e) => `${e}=${String(num(mine[e], 0))}`).join(' ')}${extra.length > 0 ? ` +${extra.join(',')}` : ''}; ` +
          `${statuses}; cold p50 ${fmtNum(cold['p50'] ?? Number.NaN, 1)} / max ${fmtNum(cold['max'] ?? Number.NaN, 1)} ms, ` +
          `warm p50 ${fmtNum(warm['p50'] ?? Number.NaN, 1)} / max ${fmtNum(warm['max'] ?? Number.NaN, 1)} ms`,
      );
      if (num(s['badAuth'], 0) > 0) note(`fake Daytona API saw ${String(s['badAuth'])} calls without "Authorization: Bearer bench-key"`);
      const runner = isRecord(s['runner']) ? s['runner'] : {};
      if (num(runner['badAuth'], 0) > 0 || num(runner['badPath'], 0) > 0) {
        note(`fake runner: ${String(runner['badAuth'])} requests without the runner key, ${String(runner['badPath'])} outside /sandboxes/`);
      }
      await request(`${cpUrl}/__reset`).then((r) => r.body.dump());
    };
    for (let r = 0; r < cfg.coldRounds; r++) await runRound('single', `single-r${r + 1}`);
    for (let r = 0; r < cfg.coldRounds; r++) await runRound('burst', `burst-r${r + 1}`);
    const exact = [...exactBy.single, ...exactBy.burst];
    report.summary.push({
      metric: `Cold: control-plane calls per fresh sandbox, ${cfg.coldConcurrency} concurrent cold requests then ${cfg.coldConcurrency} warm (public/validate/runner/last-activity, per round)`,
      direct: '',
      nginx: '',
      gateway: callsBy.burst.join(', ') + (callsBy.single.length > 0 ? ` (single requests: ${callsBy.single.join(', ')})` : ''),
      vsNginx: '',
      vsDirect: '',
      target: 'exactly 1 each',
      verdict: verdict(exact.length > 0 ? exact.every(Boolean) : null),
    });
    const med = (kind: 'single' | 'burst', which: 'cold' | 'warm', k: string): number => median(lat[kind][which].map((x) => x[k] ?? Number.NaN));
    const singleCold = med('single', 'cold', 'max');
    const singleWarm = med('single', 'warm', 'max');
    report.summary.push({
      metric: `Cold latency, one request, API ${cfg.coldDelayMs} ms per call (ms; warm in brackets)`,
      direct: '',
      nginx: '',
      gateway: `${fmtNum(singleCold, 1)} (${fmtNum(singleWarm, 1)})`,
      vsNginx: '',
      vsDirect: Number.isFinite(singleCold - singleWarm) ? `cold − warm = ${(singleCold - singleWarm).toFixed(1)} ms` : '',
      target: `cold − warm ≈ ${cfg.coldDelayMs} ms + a few ms (≤ +10)`,
      verdict: verdict(Number.isFinite(singleCold - singleWarm) ? singleCold - singleWarm <= cfg.coldDelayMs + 10 : null),
    });
    const burstCold = med('burst', 'cold', 'p50');
    const burstWarm = med('burst', 'warm', 'p50');
    report.summary.push({
      metric: `Cold latency, ${cfg.coldConcurrency} concurrent requests, p50 / max (ms; the same burst warm in brackets)`,
      direct: '',
      nginx: '',
      gateway: `${fmtNum(burstCold, 1)} / ${fmtNum(med('burst', 'cold', 'max'), 1)} (${fmtNum(burstWarm, 1)} / ${fmtNum(med('burst', 'warm', 'max'), 1)})`,
      vsNginx: '',
      vsDirect: Number.isFinite(burstCold - burstWarm) ? `cold − warm p50 = ${(burstCold - burstWarm).toFixed(1)} ms` : '',
      target: `cold − warm ≈ ${cfg.coldDelayMs} ms + a few ms (≤ +10)`,
      verdict: verdict(Number.isFinite(burstCold - burstWarm) ? burstCold - burstWarm <= cfg.coldDelayMs + 10 : null),
    });
    report.details.push({
      title:
        `Cold-cache coalescing (Daytona mode against a fake API answering every call after ${cfg.coldDelayMs} ms and a fake runner; ` +
        'a fresh private sandbox id per round, `X-Daytona-Preview-Token`, after warm-up rounds on throwaway ids; the client opens its keep-alive connections on /health first, ' +
        'fires the burst cold, then the same burst again warm)',
      header: ['Round', 'concurrent', 'public', 'validate', 'runner', 'last-activity', 'other calls', 'statuses cold then warm', 'cold min ms', 'cold p50 ms', 'cold max ms', 'warm p50 ms', 'warm max ms', 'client conns'],
      rows,
    });
    const startupCounts = isRecord(startupStats['counts']) ? JSON.stringify(startupStats['counts']) : '{}';
    ctx.info(`Daytona-mode gateway start-up made these API calls (not counted above): ${startupCounts}`);
  } catch (err) {
    note(`cold coalescing section failed: ${errMessage(err)}`);
  } finally {
    if (coldGateway !== null) await coldGateway.stop();
  }
}
