// Idle WebSockets: RSS of a fresh gateway (of a fresh baseline gateway, and of the nginx proxy) before and after opening BENCH_IDLE_WS of them.
import { join } from 'node:path';
import { clientArgs, errMessage, httpGet, isGatewayTarget, perTarget, runClient, startGateway, targetName, verdict, vsBaseline, type BenchContext, type GatewayTarget, type Target } from '../harness.js';
import { startProcess, type Tracked } from '../procs.js';
import { treeRssKiB } from '../system.js';
import { fmtNum, fmtRatio, median, num, sleep } from '../util.js';

export async function runIdleWs(ctx: BenchContext): Promise<void> {
  const { cfg, report, ports, wsUrl, wsHeaders, httpHeaders, embeddedEnv, gatewayRoot, logDir } = ctx;
  const nginxProxy = ctx.proxyProcess('nginx');
  const note = (m: string): void => ctx.note(m);
  ctx.step(`idle WebSockets: ${cfg.idleCount} through a fresh gateway (and through nginx), RSS before/after`);
  const measureIdle = async (label: string, proc: Tracked, url: string): Promise<{ before: number; after: number; afterClose: number; ok: number; failed: number }> => {
    const sample = async (n: number): Promise<number> => {
      const xs: number[] = [];
      for (let i = 0; i < n; i++) {
        xs.push(treeRssKiB(proc.pid));
        await sleep(300);
      }
      return median(xs);
    };
    await sleep(500);
    const before = await sample(3);
    const client = startProcess({
      name: `client idle-${label}`,
      command: process.execPath,
      args: clientArgs('ws-idle', { url, headers: wsHeaders, count: cfg.idleCount, concurrency: 100 }),
      cpus: cfg.loadCpu,
      logPath: join(logDir, `client-idle-${label}.log`),
      protocol: true,
    });
    try {
      const opened = await client.waitForJson((m) => m['event'] === 'opened', 180_000);
      if (num(opened['failed'], 0) > 0) note(`idle ${label}: ${String(opened['failed'])} of ${cfg.idleCount} WebSockets failed to open (${String(opened['firstError'])})`);
      await sleep(2000);
      const after = await sample(5);
      client.send('close');
      const closed = await client.waitForJson((m) => m['event'] === 'closed', 30_000);
      if (num(closed['droppedWhileIdle'], 0) > 0) note(`idle ${label}: ${String(closed['droppedWhileIdle'])} WebSockets were closed while idle`);
      await sleep(2000);
      const afterClose = await sample(3);
      return { before, after, afterClose, ok: num(opened['ok'], 0), failed: num(opened['failed'], 0) };
    } finally {
      await client.stop(1000);
    }
  };
  const rows: string[][] = [];
  const perConn: Record<Target, number> = perTarget(() => Number.NaN);
  // One fresh gateway after the other on the same port: the current build, then the baseline's when there is one.
  const freshGateway = (t: GatewayTarget) => ({
    t,
    run: async () => ({ proc: await startGateway(ctx, `${t}-idle`, ports.idleGateway, embeddedEnv, gatewayRoot[t]), url: `ws://127.0.0.1:${ports.idleGateway}/`, own: true }),
  });
  const idleTargets: { t: Target; run: () => Promise<{ proc: Tracked; url: string; own: boolean }> }[] = [freshGateway('gateway')];
  if (gatewayRoot.baseline !== '') idleTargets.push(freshGateway('baseline'));
  if (nginxProxy !== null) {
    const np = nginxProxy;
    idleTargets.push({ t: 'nginx', run: () => Promise.resolve({ proc: np, url: wsUrl.nginx, own: false }) });
  }
  for (const { t, run } of idleTargets) {
    try {
      const { proc, url, own } = await run();
      try {
        if (isGatewayTarget(t)) {
          // Load what a first request and a first upgrade load, so the baseline is a warm process.
          await httpGet(`http://127.0.0.1:${ports.idleGateway}/100b`, httpHeaders).catch(() => undefined);
          await runClient(ctx, 'ws-echo', { url, headers: wsHeaders, connections: 2, window: 4, size: cfg.wsSize, durationMs: 500, warmupMs: 200 }, 'idle-warm', 30_000).catch(
            (err: unknown) => note(`idle warm-up echo failed: ${errMessage(err)}`),
          );
        }
        const r = await measureIdle(t, proc, url);
        perConn[t] = (r.after - r.before) / Math.max(1, r.ok);
        rows.push([targetName(cfg, t), String(r.ok), String(r.failed), fmtNum(r.before), fmtNum(r.after), fmtNum(r.afterClose), fmtNum(perConn[t], 2)]);
        console.error(`   ${targetName(cfg, t)}: ${fmtNum(r.before)} KiB → ${fmtNum(r.after)} KiB with ${r.ok} idle WebSockets = ${fmtNum(perConn[t], 2)} KiB/conn`);
        if (r.ok < cfg.idleCount) perConn[t] = Number.NaN;
      } finally {
        if (own) await proc.stop();
      }
    } catch (err) {
      note(`idle WebSockets via ${targetName(cfg, t)} failed: ${errMessage(err)}`);
    }
  }
  const gwPer = perConn.gateway;
  report.summary.push({
    metric: `Idle WebSocket memory, ${cfg.idleCount} conns (KiB RSS per conn)`,
    direct: '',
    nginx: fmtNum(perConn.nginx, 2),
    gateway: fmtNum(gwPer, 2),
    ...(gatewayRoot.baseline !== ''
      ? { baseline: `${fmtNum(perConn.baseline, 2)} (${fmtRatio(perConn.baseline / perConn.nginx)})`, nowVsBaseline: vsBaseline(gwPer, perConn.baseline, false) }
      : {}),
    vsNginx: Number.isFinite(gwPer / perConn.nginx) ? `${(gwPer / perConn.nginx).toFixed(2)}×` : 'n/a',
    vsDirect: '',
    target: '≤ 13 KiB',
    verdict: verdict(Number.isFinite(gwPer) ? gwPer <= 13 : null),
  });
  report.details.push({
    title: 'Idle WebSockets (RSS of the whole process tree from /proc/PID/status VmRSS; gateway: a fresh process warmed by one request and one echo)',
    header: ['Proxy', 'opened', 'failed', 'RSS before KiB', 'RSS with conns KiB', 'RSS after close KiB', 'KiB / conn'],
    rows,
  });
}
