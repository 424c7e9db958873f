// HTTP throughput: wrk, closed loop, interleaved rounds of direct / nginx / Go / bare undici / gateway (/ baseline gateway), medians.
import type { SummaryRow } from '../report.js';
import { errMessage, PEERS, perTarget, roundOrder, SIZES, targetName, targetsFor as targetsOf, verdict, vsBaseline, type BenchContext, type Target } from '../harness.js';
import { fmtNum, median } from '../util.js';
import { runWrk, type WrkResult } from '../wrk.js';

export async function runHttpThroughput(ctx: BenchContext): Promise<void> {
  const { cfg, report, httpBase, httpHeaders, logDir, available, sizeOk } = ctx;
  const wrkBin = ctx.wrkBin;
  if (wrkBin === null) return;
  const note = (m: string): void => ctx.note(m);
  const targetsFor = (size: '100b' | '1m'): Target[] => targetsOf(ctx, size);
  ctx.step(`HTTP throughput: wrk -t1 on core ${cfg.loadCpu}, ${cfg.rounds} interleaved rounds of ${cfg.durationMs / 1000}s`);
  for (const s of SIZES) {
    for (const t of targetsFor(s.key)) {
      const label = `warm-${t}-${s.key}`;
      await runWrk({ bin: wrkBin, url: `${httpBase[t]}/${s.key}`, connections: 10, durationMs: cfg.warmupMs, headers: httpHeaders, cpus: cfg.loadCpu, logDir, label }).catch(
        (err: unknown) => note(`wrk ${label} failed: ${errMessage(err)}`),
      );
    }
  }
  const rows: string[][] = [];
  for (const s of SIZES) {
    for (const c of cfg.conns) {
      const runs: Record<Target, WrkResult[]> = perTarget(() => []);
      for (let r = 0; r < cfg.rounds; r++) {
        for (const t of roundOrder(targetsFor(s.key), r)) {
          const label = `${s.key}-c${c}-${t}-r${r + 1}`;
          try {
            const res = await ctx.guarded(t, label, () =>
              runWrk({ bin: wrkBin, url: `${httpBase[t]}/${s.key}`, connections: c, durationMs: cfg.durationMs, headers: httpHeaders, cpus: cfg.loadCpu, logDir, label }),
            );
            runs[t].push(res);
            console.error(`   ${label}: ${fmtNum(res.rps)} req/s${res.non2xx + res.socketErrors > 0 ? ` (non-2xx ${res.non2xx}, socket errors ${res.socketErrors})` : ''}`);
          } catch (err) {
            note(`wrk ${label} failed: ${errMessage(err)}`);
          }
        }
      }
      const med = (t: Target): number => median(runs[t].map((x) => x.rps));
      const bad = (t: Target): number => runs[t].reduce((a, x) => a + x.non2xx + x.socketErrors, 0);
      for (const t of targetsFor(s.key)) {
        if (bad(t) > 0) note(`${t} ${s.label} ${c} conns: ${bad(t)} non-2xx responses or socket errors over ${runs[t].length} runs`);
      }
      const gw = med('gateway');
      const vsNginx = gw / med('nginx');
      const ratio = (t: Target): string => {
        const x = med(t) / med('nginx');
        return Number.isFinite(x) ? `${x.toFixed(2)}×` : 'n/a';
      };
      const measured = (t: Target): boolean => targetsFor(s.key).includes(t);
      const peer = (t: Target): string => (measured(t) && PEERS.includes(t) ? `${fmtNum(med(t))} (${ratio(t)})` : '');
      console.error(`   ${s.label}, ${c} conns, median vs nginx: ${targetsFor(s.key).filter((t) => t !== 'nginx').map((t) => `${targetName(cfg, t)} ${ratio(t)}`).join(', ')}`);
      const gwBroken = available.gateway && !sizeOk.gateway[s.key];
      const ok = gwBroken ? false : Number.isFinite(vsNginx) ? vsNginx >= s.minRatio && bad('gateway') === 0 : null;
      const row: SummaryRow = {
        metric: `HTTP ${s.label}, ${c} conns (req/s)`,
        direct: fmtNum(med('direct')),
        nginx: fmtNum(med('nginx')),
        go: peer('go'),
        undici: peer('undici'),
        gateway: gwBroken ? 'wrong answer (see notes)' : fmtNum(gw),
        ...(measured('baseline') ? { baseline: `${fmtNum(med('baseline'))} (${ratio('baseline')})`, nowVsBaseline: vsBaseline(gw, med('baseline'), true) } : {}),
        vsNginx: Number.isFinite(vsNginx) ? `${vsNginx.toFixed(2)}×` : 'n/a',
        vsDirect: Number.isFinite(gw / med('direct')) ? `${(gw / med('direct')).toFixed(2)}×` : 'n/a',
        target: `≥ ${s.minRatio}× nginx`,
        verdict: verdict(ok),
      };
      report.summary.push(row);
      for (const t of targetsFor(s.key)) {
        rows.push([
          `${s.label}, ${c} conns`,
          targetName(cfg, t),
          runs[t].map((x) => fmtNum(x.rps)).join(' / '),
          fmtNum(med(t)),
          ratio(t),
          fmtNum(median(runs[t].map((x) => x.latencyAvgMs)), 2),
          fmtNum(median(runs[t].map((x) => x.bytesRead / Math.max(1, x.requests))), 0),
          String(bad(t)),
        ]);
      }
    }
  }
  report.details.push({
    title: `HTTP throughput (wrk -t1 -cN -d${cfg.durationMs / 1000}s, ${cfg.rounds} interleaved rounds, order rotated each round)`,
    header: ['Test', 'Target', 'req/s per round', 'median req/s', 'vs nginx', 'avg latency ms', 'bytes read / request', 'non-2xx + socket errors'],
    rows,
  });
}
