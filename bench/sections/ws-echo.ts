// WebSocket echo messages/s through direct / nginx / gateway (/ baseline gateway).
import { errMessage, isGatewayTarget, perTarget, roundOrder, runClient, TARGETS, targetName, verdict, vsBaseline, type BenchContext, type Target } from '../harness.js';
import { fmtNum, fmtRatio, median, num } from '../util.js';

export async function runWsEcho(ctx: BenchContext): Promise<void> {
  const { cfg, report, wsUrl, wsHeaders, available } = ctx;
  const nginxProxy = ctx.proxyProcess('nginx');
  const note = (m: string): void => ctx.note(m);
  const wsTargets = TARGETS.filter((t) => t === 'direct' || (t === 'nginx' && nginxProxy !== null) || (isGatewayTarget(t) && available[t]));
  ctx.step(`WebSocket echo: ${cfg.wsConns} connections × ${cfg.wsWindow} in flight, ${cfg.wsSize} B messages, ${cfg.wsDurationMs / 1000}s × ${cfg.rounds} rounds`);
  const runs: Record<Target, number[]> = perTarget(() => []);
  for (let r = 0; r < cfg.rounds; r++) {
    for (const t of roundOrder(wsTargets, r)) {
      const label = `ws-echo-${t}-r${r + 1}`;
      try {
        const msg = await ctx.guarded(t, label, () =>
          runClient(
            ctx,
            'ws-echo',
            { url: wsUrl[t], headers: wsHeaders, connections: cfg.wsConns, window: cfg.wsWindow, size: cfg.wsSize, durationMs: cfg.wsDurationMs, warmupMs: 1000 },
            label,
            cfg.wsDurationMs + 60_000,
          ),
        );
        if (num(msg['badSize'], 0) > 0 || num(msg['errors'], 0) > 0) note(`${label}: ${String(msg['badSize'])} bad-size messages, ${String(msg['errors'])} errors ${String(msg['firstError'])}`);
        runs[t].push(num(msg['msgsPerSec']));
        console.error(`   ${label}: ${fmtNum(num(msg['msgsPerSec']))} msg/s`);
      } catch (err) {
        note(`${label} failed: ${errMessage(err)}`);
      }
    }
  }
  const med = (t: Target): number => median(runs[t]);
  const vsNginx = med('gateway') / med('nginx');
  report.summary.push({
    metric: `WebSocket echo, ${cfg.wsConns} conns × ${cfg.wsWindow} in flight, ${cfg.wsSize} B (msg/s)`,
    direct: fmtNum(med('direct')),
    nginx: fmtNum(med('nginx')),
    gateway: fmtNum(med('gateway')),
    ...(wsTargets.includes('baseline')
      ? { baseline: `${fmtNum(med('baseline'))} (${fmtRatio(med('baseline') / med('nginx'))})`, nowVsBaseline: vsBaseline(med('gateway'), med('baseline'), true) }
      : {}),
    vsNginx: Number.isFinite(vsNginx) ? `${vsNginx.toFixed(2)}×` : 'n/a',
    vsDirect: Number.isFinite(med('gateway') / med('direct')) ? `${(med('gateway') / med('direct')).toFixed(2)}×` : 'n/a',
    target: '≥ 0.9× nginx',
    verdict: verdict(Number.isFinite(vsNginx) ? vsNginx >= 0.9 : null),
  });
  report.details.push({
    title: 'WebSocket echo (ws client in its own process on the load core; echo server: ws, not pinned)',
    header: ['Target', 'msg/s per round', 'median msg/s'],
    rows: wsTargets.map((t) => [targetName(cfg, t), runs[t].map((x) => fmtNum(x)).join(' / '), fmtNum(med(t))]),
  });
}
