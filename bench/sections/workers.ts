// Workers: nginx with 1 and 2 worker processes against the gateway with WORKERS=1 and WORKERS=2 (node:cluster),
// 100 B over wrk, interleaved rounds. Scaling information, not a target: on a 2-core machine the load generator
// shares the cores with the proxies, so neither proxy can be given two cores of its own. Every proxy in this
// section runs unpinned (all cores) so the 1- and 2-process columns are measured alike; wrk stays on its core.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { errMessage, rotate, startGateway, waitHttpOk, type BenchContext } from '../harness.js';
import { findBinary, writeProxyConfig } from '../nginx.js';
import { onCleanup, startProcess, type Tracked } from '../procs.js';
import { fmtNum, freePort, median } from '../util.js';
import { runWrk, type WrkResult } from '../wrk.js';

type Variant = 'nginx-1' | 'nginx-2' | 'gateway-1' | 'gateway-2';
const VARIANTS: readonly Variant[] = ['nginx-1', 'nginx-2', 'gateway-1', 'gateway-2'];
const LABEL: Readonly<Record<Variant, string>> = {
  'nginx-1': 'nginx, 1 worker',
  'nginx-2': 'nginx, 2 workers',
  'gateway-1': 'gateway, WORKERS=1',
  'gateway-2': 'gateway, WORKERS=2',
};

/** nginx's reference proxy config with `worker_processes` set to `workers`. */
async function nginxConfig(dir: string, workers: number, httpPort: number, ctx: BenchContext): Promise<string> {
  // The WebSocket server of the reference config is not measured here; it just needs a port of its own.
  const path = writeProxyConfig(dir, httpPort, await freePort(), ctx.ports.backend, ctx.ports.echo, 4096);
  writeFileSync(path, readFileSync(path, 'utf8').replace(/worker_processes \d+;/, `worker_processes ${workers};`));
  return path;
}

export async function runWorkers(ctx: BenchContext): Promise<void> {
  const { cfg, logDir, report, httpHeaders } = ctx;
  const wrkBin = ctx.wrkBin;
  const nginxBin = findBinary('nginx');
  if (wrkBin === null || nginxBin === null) return;
  const allCpus = `0-${Math.max(0, availableParallelism() - 1)}`;
  const conns = Math.max(...cfg.conns);
  ctx.step(`workers: nginx 1/2 workers vs gateway WORKERS=1/2, proxies on cores ${allCpus}, wrk -t1 -c${conns} on core ${cfg.loadCpu}`);

  const procs: Tracked[] = [];
  const dirs: string[] = [];
  onCleanup(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
  const base: Partial<Record<Variant, string>> = {};
  try {
    for (const n of [1, 2]) {
      const dir = mkdtempSync(join(tmpdir(), `bench-nginx${n}-`));
      dirs.push(dir);
      const port = await freePort();
      const conf = await nginxConfig(dir, n, port, ctx);
      const p = startProcess({ name: `nginx-proxy-${n}w`, command: nginxBin, args: ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], cpus: allCpus, logPath: join(logDir, `nginx-proxy-${n}w.log`) });
      procs.push(p);
      await waitHttpOk(`http://127.0.0.1:${port}/100b`, {}, 10_000, p);
      base[n === 1 ? 'nginx-1' : 'nginx-2'] = `http://127.0.0.1:${port}`;
    }
    for (const n of [1, 2]) {
      const port = await freePort();
      const g = await startGateway({ cfg: { ...cfg, proxyCpu: allCpus }, logDir }, `gateway-${n}w`, port, { ...ctx.embeddedEnv, WORKERS: String(n) });
      procs.push(g);
      base[n === 1 ? 'gateway-1' : 'gateway-2'] = `http://127.0.0.1:${port}`;
    }
  } catch (err) {
    ctx.note(`workers: a proxy did not start: ${errMessage(err)}`);
    await Promise.all(procs.map((p) => p.stop()));
    return;
  }

  const variants = VARIANTS.filter((v) => base[v] !== undefined);
  for (const v of variants) {
    // Warm-up: every worker of every variant gets connections and JIT time.
    await runWrk({ bin: wrkBin, url: `${base[v]}/100b`, connections: conns, durationMs: cfg.warmupMs, headers: httpHeaders, cpus: cfg.loadCpu, logDir, label: `workers-warm-${v}` }).catch(
      (err: unknown) => ctx.note(`wrk workers-warm-${v} failed: ${errMessage(err)}`),
    );
  }
  const runs: Record<Variant, WrkResult[]> = { 'nginx-1': [], 'nginx-2': [], 'gateway-1': [], 'gateway-2': [] };
  for (let r = 0; r < cfg.rounds; r++) {
    for (const v of rotate(variants, r)) {
      const label = `workers-${v}-r${r + 1}`;
      try {
        const res = await runWrk({ bin: wrkBin, url: `${base[v]}/100b`, connections: conns, durationMs: cfg.durationMs, headers: httpHeaders, cpus: cfg.loadCpu, logDir, label });
        runs[v].push(res);
        console.error(`   ${label}: ${fmtNum(res.rps)} req/s`);
      } catch (err) {
        ctx.note(`wrk ${label} failed: ${errMessage(err)}`);
      }
    }
  }
  await Promise.all(procs.map((p) => p.stop()));

  const med = (v: Variant): number => median(runs[v].map((x) => x.rps));
  const bad = (v: Variant): number => runs[v].reduce((a, x) => a + x.non2xx + x.socketErrors, 0);
  for (const v of variants) if (bad(v) > 0) ctx.note(`workers ${LABEL[v]}: ${bad(v)} non-2xx responses or socket errors`);
  const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : 'n/a');
  report.summary.push({
    metric: `HTTP 100 B, ${conns} conns, 2 processes (req/s; scaling info, load generator shares the ${availableParallelism()} cores)`,
    direct: '—',
    nginx: fmtNum(med('nginx-2')),
    gateway: fmtNum(med('gateway-2')),
    vsNginx: ratio(med('gateway-2'), med('nginx-2')),
    vsDirect: 'n/a',
    target: 'none (information)',
    verdict: 'info',
  });
  report.details.push({
    title: `Workers (wrk -t1 -c${conns} -d${cfg.durationMs / 1000}s on core ${cfg.loadCpu}, proxies unpinned on ${allCpus}, ${cfg.rounds} interleaved rounds)`,
    header: ['Proxy', 'req/s per round', 'median req/s', '2 processes / 1 process', 'avg latency ms', 'non-2xx + socket errors'],
    rows: variants.map((v) => [
      LABEL[v],
      runs[v].map((x) => fmtNum(x.rps)).join(' / '),
      fmtNum(med(v)),
      v === 'nginx-2' ? ratio(med('nginx-2'), med('nginx-1')) : v === 'gateway-2' ? ratio(med('gateway-2'), med('gateway-1')) : '',
      fmtNum(median(runs[v].map((x) => x.latencyAvgMs)), 2),
      String(bad(v)),
    ]),
  });
}
