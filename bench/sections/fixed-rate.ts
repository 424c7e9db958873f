// Fixed-rate latency: the open-loop client of bench/client.ts at BENCH_RATE req/s against each target.
import type { Tracked } from '../procs.js';
import { errMessage, latencyOf, PEERS, perTarget, roundOrder, runClient, targetName, targetsFor, verdict, type BenchContext, type Target } from '../harness.js';
import { cpuInterference, cpuMark, threadCpuSplit, threadTicks } from '../system.js';
import { fmtNum, median, num } from '../util.js';

function msDelta(d: number): string {
  return Number.isFinite(d) ? `${d >= 0 ? '+' : ''}${d.toFixed(2)} ms` : 'n/a';
}

export async function runFixedRate(ctx: BenchContext): Promise<void> {
  const { cfg, report, httpBase, httpHeaders } = ctx;
  const note = (m: string): void => ctx.note(m);
  const httpTargets = targetsFor(ctx, '100b');
  ctx.step(`fixed rate ${cfg.rate} req/s for ${cfg.rateDurationMs / 1000}s (+${cfg.rateWarmupMs / 1000}s warm-up), ${cfg.rateRounds} rounds, 100 B`);
  const lat: Record<Target, Record<string, number>[]> = perTarget(() => []);
  const sched: Record<Target, Record<string, number>[]> = perTarget(() => []);
  const errs: Record<Target, number> = perTarget(() => 0);
  // The proxy's CPU per request in each round (µs): its busiest thread, and the sum of its other threads.
  const cpu: Record<Target, { busiest: number; others: number }[]> = perTarget(() => []);
  const requestsPerRound = (cfg.rate * (cfg.rateDurationMs + cfg.rateWarmupMs)) / 1000;
  for (let r = 0; r < cfg.rateRounds; r++) {
    for (const t of roundOrder(httpTargets, r)) {
      const label = `rate-${t}-r${r + 1}`;
      try {
        const m0 = cpuMark();
        const before: { proc: Tracked | null; ticks: Map<string, number> } = { proc: null, ticks: new Map() };
        const msg = await ctx.guarded(t, label, () => {
          before.proc = ctx.proxyProcess(t); // after guarded's (re)start
          before.ticks = before.proc === null ? new Map() : threadTicks(before.proc.pid);
          return runClient(
            ctx,
            'rate',
            { origin: httpBase[t], path: '/100b', headers: httpHeaders, rate: cfg.rate, durationMs: cfg.rateDurationMs, warmupMs: cfg.rateWarmupMs, connections: 64 },
            label,
            cfg.rateDurationMs + cfg.rateWarmupMs + 60_000,
          );
        });
        const split = before.proc === null ? null : threadCpuSplit(before.ticks, threadTicks(before.proc.pid));
        const perRequest = split === null ? null : { busiest: (split.busiest * 1e6) / requestsPerRound, others: (split.others * 1e6) / requestsPerRound };
        if (perRequest !== null) cpu[t].push(perRequest);
        const l = latencyOf(msg);
        lat[t].push({ ...l, steal: cpuInterference(m0, cpuMark()).stealPct });
        sched[t].push(latencyOf(msg, 'scheduledLatencyMs'));
        errs[t] += num(msg['errors'], 0) + num(msg['non200'], 0);
        if (typeof msg['firstError'] === 'string' && msg['firstError'] !== '') note(`${label}: ${msg['firstError']}`);
        console.error(`   ${label}: p50 ${fmtNum(l['p50'] ?? Number.NaN, 2)} ms, p99 ${fmtNum(l['p99'] ?? Number.NaN, 2)} ms, max send lag ${fmtNum(num(msg['maxSendLagMs']), 1)} ms` +
            (perRequest === null ? '' : `, proxy CPU ${fmtNum(perRequest.busiest, 0)} + ${fmtNum(perRequest.others, 0)} µs per request`),
        );
      } catch (err) {
        note(`${label} failed: ${errMessage(err)}`);
      }
    }
  }
  const m = (t: Target, k: string): number => median(lat[t].map((x) => x[k] ?? Number.NaN));
  const ms = (t: Target, k: string): number => median(sched[t].map((x) => x[k] ?? Number.NaN));
  const delta = m('gateway', 'p99') - m('direct', 'p99');
  for (const [k, label] of [['p50', 'p50'], ['p99', 'p99']] as const) {
    const d = m('gateway', k) - m('direct', k);
    const dn = m('gateway', k) - m('nginx', k);
    const peer = (t: Target): string => (httpTargets.includes(t) && PEERS.includes(t) ? fmtNum(m(t, k), 2) : '');
    report.summary.push({
      metric: `${label} latency @ ${cfg.rate} req/s, 100 B (ms)`,
      direct: fmtNum(m('direct', k), 2),
      nginx: fmtNum(m('nginx', k), 2),
      go: peer('go'),
      undici: peer('undici'),
      gateway: fmtNum(m('gateway', k), 2),
      // A difference, not flagged: tail latencies of this VM move by milliseconds from round to round.
      ...(httpTargets.includes('baseline') ? { baseline: fmtNum(m('baseline', k), 2), nowVsBaseline: msDelta(m('gateway', k) - m('baseline', k)) } : {}),
      vsNginx: msDelta(dn),
      vsDirect: msDelta(d),
      target: k === 'p99' ? '≤ direct + 2 ms' : '',
      verdict: k === 'p99' ? verdict(Number.isFinite(delta) ? delta <= 2 && errs.gateway === 0 : null) : '',
    });
  }
  report.details.push({
    title:
      `Fixed-rate latency (open-loop node client with an undici Pool of 64 connections on the load core, ${cfg.rate} req/s, ` +
      `${cfg.rateDurationMs / 1000}s measured per round after ${cfg.rateWarmupMs / 1000}s warm-up; median over ${cfg.rateRounds} rounds). ` +
      'Latency from hand-off to undici; the last two columns count from the scheduled send time instead (adds the client timer lateness of this VM)',
    header: [
      'Target',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'p99.9 ms',
      'max ms',
      'p99 per round (steal % of a core)',
      'errors',
      'p99 from schedule',
      'p99.9 from schedule',
      'proxy CPU per request, µs: busiest thread + other threads (median)',
    ],
    rows: httpTargets.map((t) => [
      targetName(cfg, t),
      fmtNum(m(t, 'p50'), 2),
      fmtNum(m(t, 'p90'), 2),
      fmtNum(m(t, 'p99'), 2),
      fmtNum(m(t, 'p999'), 2),
      fmtNum(m(t, 'max'), 2),
      lat[t].map((x) => `${fmtNum(x['p99'] ?? Number.NaN, 2)} (${fmtNum(x['steal'] ?? Number.NaN, 0)})`).join(' / '),
      String(errs[t]),
      fmtNum(ms(t, 'p99'), 2),
      fmtNum(ms(t, 'p999'), 2),
      cpu[t].length === 0 ? '' : `${fmtNum(median(cpu[t].map((c) => c.busiest)), 0)} + ${fmtNum(median(cpu[t].map((c) => c.others)), 0)}`,
    ]),
  });
}
