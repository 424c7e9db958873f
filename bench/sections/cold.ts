// Cold-cache coalescing in Daytona mode: a fake API (20 ms per call, calls counted), a fake runner, bursts of cold requests.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { request } from 'undici';
import { errMessage, HERE, latencyOf, runClient, startGateway, targetName, TOKEN, verdict, vsBaseline, type BenchContext, type GatewayTarget } from '../harness.js';
import type { SummaryRow } from '../report.js';
import { startProcess, type Tracked } from '../procs.js';
import { fmtNum, isRecord, median, num, sleep } from '../util.js';

const ENDPOINTS = ['public', 'validate', 'runner', 'last-activity'] as const;
type ColdKind = 'single' | 'burst';

/** What the rounds against one gateway build measured. */
interface ColdRuns {
  readonly exactBy: Record<ColdKind, boolean[]>;
  readonly callsBy: Record<ColdKind, string[]>;
  readonly lat: Record<ColdKind, { cold: Record<string, number>[]; warm: Record<string, number>[] }>;
}

export async function runCold(ctx: BenchContext): Promise<void> {
  const { cfg, report, ports, logDir } = ctx;
  const note = (m: string): void => ctx.note(m);
  ctx.step(`cold coalescing: fake Daytona API (${cfg.coldDelayMs} ms per call), ${cfg.coldConcurrency} concurrent cold requests × ${cfg.coldRounds} rounds`);
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
    const rows: string[][] = [];
    const gw = await measureCold(ctx, 'gateway', cpUrl, rows);
    let base: ColdRuns | null = null;
    // The baseline build after the current one, through the same fake API (its counts are per sandbox id).
    if (ctx.gatewayRoot.baseline !== '') {
      try {
        base = await measureCold(ctx, 'baseline', cpUrl, rows);
      } catch (err) {
        note(`cold coalescing via ${targetName(cfg, 'baseline')} failed: ${errMessage(err)}`);
      }
    }
    pushColdSummary(ctx, gw, base);
    report.details.push({
      title:
        `Cold-cache coalescing (Daytona mode against a fake API answering every call after ${cfg.coldDelayMs} ms and a fake runner; ` +
        'a fresh private sandbox id per round, `X-Daytona-Preview-Token`, after warm-up rounds on throwaway ids; the client opens its keep-alive connections on /health first, ' +
        'fires the burst cold, then the same burst again warm)',
      header: ['Round', 'concurrent', 'public', 'validate', 'runner', 'last-activity', 'other calls', 'statuses cold then warm', 'cold min ms', 'cold p50 ms', 'cold max ms', 'warm p50 ms', 'warm max ms', 'client conns'],
      rows,
    });
  } catch (err) {
    note(`cold coalescing section failed: ${errMessage(err)}`);
  }
}

/** Starts a fresh Daytona-mode gateway of build t, warms it, runs the single then the burst rounds; rows get one line per round. */
async function measureCold(ctx: BenchContext, t: GatewayTarget, cpUrl: string, rows: string[][]): Promise<ColdRuns> {
  const { cfg, ports } = ctx;
  const note = (m: string): void => ctx.note(m);
  // Round labels and client logs name the baseline build; the current build's stay as they were.
  const prefix = t === 'gateway' ? '' : `${targetName(cfg, t)} `;
  const clientPrefix = t === 'gateway' ? 'cold' : `${t}-cold`;
  let coldGateway: Tracked | null = null;
  try {
    coldGateway = await startGateway(
      ctx,
      `${t}-daytona`,
      ports.coldGateway,
      { DAYTONA_API_URL: cpUrl, PROXY_API_KEY: 'bench-key', SESSION_SECRET: randomBytes(32).toString('hex') },
      ctx.gatewayRoot[t],
    );
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
        `${clientPrefix}-warmup-${i}`,
        60_000,
      );
    }
    await sleep(Math.max(500, cfg.coldDelayMs * 10));
    await request(`${cpUrl}/__reset`).then((r) => r.body.dump());
    const runs: ColdRuns = { exactBy: { single: [], burst: [] }, callsBy: { single: [], burst: [] }, lat: { single: { cold: [], warm: [] }, burst: { cold: [], warm: [] } } };
    const { exactBy, callsBy, lat } = runs;
    const runRound = async (kind: ColdKind, label: string): Promise<void> => {
      const concurrency = kind === 'single' ? 1 : cfg.coldConcurrency;
      const id = `cold-${label}-${randomBytes(4).toString('hex')}`;
      const msg = await runClient(
        ctx,
        'cold',
        { origin: `http://127.0.0.1:${ports.coldGateway}`, path: '/', healthHost: 'localhost', headers: { Host: `8080-${id}.localhost`, 'X-Daytona-Preview-Token': TOKEN }, concurrency },
        `${clientPrefix}-${label}`,
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
      if (typeof msg['firstError'] === 'string' && msg['firstError'] !== '') note(`cold ${prefix}${label}: ${msg['firstError']}`);
      exactBy[kind].push(ENDPOINTS.every((e) => num(mine[e], 0) === 1) && extra.length === 0);
      callsBy[kind].push(ENDPOINTS.map((e) => String(num(mine[e], 0))).join('/') + (extra.length > 0 ? '+' : ''));
      lat[kind].cold.push(cold);
      lat[kind].warm.push(warm);
      rows.push([
        `${prefix}${label}`,
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
        `   ${prefix}${label}: calls ${ENDPOINTS.map((e) => `${e}=${String(num(mine[e], 0))}`).join(' ')}${extra.length > 0 ? ` +${extra.join(',')}` : ''}; ` +
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
    const startupCounts = isRecord(startupStats['counts']) ? JSON.stringify(startupStats['counts']) : '{}';
    ctx.info(`Daytona-mode ${targetName(cfg, t)} start-up made these API calls (not counted above): ${startupCounts}`);
    return runs;
  } finally {
    if (coldGateway !== null) await coldGateway.stop();
  }
}

/** The three summary rows of the current build, with the baseline build's cells beside them when there is one. */
function pushColdSummary(ctx: BenchContext, gw: ColdRuns, base: ColdRuns | null): void {
  const { cfg, report } = ctx;
  const calls = (r: ColdRuns): string => r.callsBy.burst.join(', ') + (r.callsBy.single.length > 0 ? ` (single requests: ${r.callsBy.single.join(', ')})` : '');
  const med = (r: ColdRuns, kind: ColdKind, which: 'cold' | 'warm', k: string): number => median(r.lat[kind][which].map((x) => x[k] ?? Number.NaN));
  const single = (r: ColdRuns): string => `${fmtNum(med(r, 'single', 'cold', 'max'), 1)} (${fmtNum(med(r, 'single', 'warm', 'max'), 1)})`;
  const burst = (r: ColdRuns): string =>
    `${fmtNum(med(r, 'burst', 'cold', 'p50'), 1)} / ${fmtNum(med(r, 'burst', 'cold', 'max'), 1)} (${fmtNum(med(r, 'burst', 'warm', 'p50'), 1)} / ${fmtNum(med(r, 'burst', 'warm', 'max'), 1)})`;
  // Baseline cells: its figure, and the current cold latency over its own (lower is better).
  const beside = (cell: (r: ColdRuns) => string, kind: ColdKind | null, k: string): Pick<SummaryRow, 'baseline' | 'nowVsBaseline'> => {
    if (ctx.gatewayRoot.baseline === '') return {};
    if (base === null) return { baseline: 'failed (see notes)', nowVsBaseline: 'n/a' };
    return { baseline: cell(base), nowVsBaseline: kind === null ? '' : vsBaseline(med(gw, kind, 'cold', k), med(base, kind, 'cold', k), false) };
  };
  const exact = [...gw.exactBy.single, ...gw.exactBy.burst];
  report.summary.push({
    metric: `Cold: control-plane calls per fresh sandbox, ${cfg.coldConcurrency} concurrent cold requests then ${cfg.coldConcurrency} warm (public/validate/runner/last-activity, per round)`,
    direct: '',
    nginx: '',
    gateway: calls(gw),
    ...beside(calls, null, ''),
    vsNginx: '',
    vsDirect: '',
    target: 'exactly 1 each',
    verdict: verdict(exact.length > 0 ? exact.every(Boolean) : null),
  });
  const singleCold = med(gw, 'single', 'cold', 'max');
  const singleWarm = med(gw, 'single', 'warm', 'max');
  report.summary.push({
    metric: `Cold latency, one request, API ${cfg.coldDelayMs} ms per call (ms; warm in brackets)`,
    direct: '',
    nginx: '',
    gateway: single(gw),
    ...beside(single, 'single', 'max'),
    vsNginx: '',
    vsDirect: Number.isFinite(singleCold - singleWarm) ? `cold − warm = ${(singleCold - singleWarm).toFixed(1)} ms` : '',
    target: `cold − warm ≈ ${cfg.coldDelayMs} ms + a few ms (≤ +10)`,
    verdict: verdict(Number.isFinite(singleCold - singleWarm) ? singleCold - singleWarm <= cfg.coldDelayMs + 10 : null),
  });
  const burstCold = med(gw, 'burst', 'cold', 'p50');
  const burstWarm = med(gw, 'burst', 'warm', 'p50');
  report.summary.push({
    metric: `Cold latency, ${cfg.coldConcurrency} concurrent requests, p50 / max (ms; the same burst warm in brackets)`,
    direct: '',
    nginx: '',
    gateway: burst(gw),
    ...beside(burst, 'burst', 'p50'),
    vsNginx: '',
    vsDirect: Number.isFinite(burstCold - burstWarm) ? `cold − warm p50 = ${(burstCold - burstWarm).toFixed(1)} ms` : '',
    target: `cold − warm ≈ ${cfg.coldDelayMs} ms + a few ms (≤ +10)`,
    verdict: verdict(Number.isFinite(burstCold - burstWarm) ? burstCold - burstWarm <= cfg.coldDelayMs + 10 : null),
  });
}
