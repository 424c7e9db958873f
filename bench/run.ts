// Load benchmark of the preview gateway against nginx, in one run: `npm run bench`.
// Topology (2 cores): the proxy under test (nginx or the gateway) is pinned to core 0, every load
// generator to core 1, the backends (static nginx, WebSocket echo, fake control plane) are not pinned.
// See bench/README.md for the sections, the env knobs and how to read the numbers.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  errMessage,
  HERE,
  HTTP_HOST,
  httpGet,
  isGatewayTarget,
  loadBenchConfig,
  ROOT,
  SANDBOX,
  SIZES,
  startGateway,
  gatewayNode,
  perTarget,
  TARGETS,
  targetName,
  TOKEN,
  waitHttpOk,
  WS_HOST,
  type BenchContext,
  type GatewayTarget,
  type Ports,
  type Size,
  type Target,
} from './harness.js';
import { prepareBaseline } from './baseline.js';
import { ensureBinary, findBinary, nginxVersion, writeBackendConfig, writeProxyConfig } from './nginx.js';
import { buildGoProxy, startGoProxy, startUndiciProxy } from './peers.js';
import { installExitHandlers, isShuttingDown, onCleanup, setUnexpectedExitHandler, startProcess, stopAll, type Tracked } from './procs.js';
import { renderReport, type Report } from './report.js';
import { runCold } from './sections/cold.js';
import { runFixedRate } from './sections/fixed-rate.js';
import { runHttpThroughput } from './sections/http-throughput.js';
import { runIdleWs } from './sections/idle-ws.js';
import { runWsEcho } from './sections/ws-echo.js';
import { runWorkers } from './sections/workers.js';
import { runFleetCold } from './sections/fleet-cold.js';
import { commandVersion, cpuInterference, cpuMark, machineNote, raiseNofile, type CpuMark } from './system.js';
import { fmtNum, freePort, sleep } from './util.js';

const cfg = loadBenchConfig();

const notes: string[] = [];
let keepTmp = cfg.keepTmp;
function note(msg: string): void {
  if (isShuttingDown()) return;
  notes.push(msg);
  console.error(`!! ${msg}`);
}
function info(msg: string): void {
  notes.push(msg);
  console.error(`.. ${msg}`);
}
function step(msg: string): void {
  if (isShuttingDown()) return;
  console.error(`== ${msg}`);
}

const load: { name: string; seconds: number; foreignPct: number; stealPct: number }[] = [];
const openSections = new Map<string, CpuMark>();
function beginSection(name: string): void {
  openSections.set(name, cpuMark());
}
function endSection(name: string): void {
  const m0 = openSections.get(name);
  if (m0 === undefined) return;
  openSections.delete(name);
  const m1 = cpuMark();
  const { foreignPct, stealPct } = cpuInterference(m0, m1);
  load.push({ name, seconds: (m1.at - m0.at) / 1000, foreignPct, stealPct });
  if (foreignPct > 15) note(`section ${name}: ${foreignPct.toFixed(0)}% of a core was used by processes outside the bench`);
  if (stealPct > 10) note(`section ${name}: the hypervisor stole ${stealPct.toFixed(0)}% of a core (steal time): its tail latencies are unreliable`);
}

/** Runs one section when BENCH_SECTIONS names it, measuring the interference around it. */
async function section(name: string, enabled: boolean, run: () => Promise<void>): Promise<void> {
  if (!cfg.sections.has(name)) return;
  if (!enabled) {
    note(`section ${name} SKIPPED (a tool it needs is missing: see above)`);
    return;
  }
  beginSection(name);
  try {
    await run();
  } catch (err) {
    note(`section ${name} failed: ${errMessage(err)}`);
  } finally {
    endSection(name);
  }
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  installExitHandlers();
  setUnexpectedExitHandler((t) => {
    if (t.name.startsWith('wrk') || t.name.startsWith('client')) return; // reported by their callers
    note(`${t.name} (pid ${t.pid}) exited on its own with ${t.exitDescription}\n${t.logTail()}`);
  });
  const started = Date.now();
  const nofile = Math.min(65535, raiseNofile(65535));
  if (cfg.sections.has('idle') && nofile < 2 * cfg.idleCount + 1000) {
    note(`open-file limit is only ${nofile} (prlimit could not raise it): the idle-WebSocket section may fail`);
  }

  const tmp = mkdtempSync(join(tmpdir(), 'gateway-bench-'));
  chmodSync(tmp, 0o755);
  const logDir = join(tmp, 'logs');
  const www = join(tmp, 'www');
  mkdirSync(logDir, { recursive: true });
  mkdirSync(www, { recursive: true });
  onCleanup(() => {
    if (keepTmp) console.error(`(bench temp dir kept: ${tmp})`);
    else rmSync(tmp, { recursive: true, force: true });
  });
  writeFileSync(join(www, '100b'), Buffer.alloc(100, 0x61));
  writeFileSync(join(www, '1m'), randomBytes(1024 * 1024));
  step(`temp dir ${tmp}`);

  const aptLog = join(logDir, 'apt.log');
  const wrkBin = ensureBinary('wrk', ['wrk'], aptLog);
  const nginxBin = ensureBinary('nginx', ['nginx-light', 'nginx'], aptLog);

  const report: Report = {
    startedAt: new Date(started).toISOString(),
    machine: machineNote(),
    versions: {
      node: process.version,
      'gateway node': commandVersion(gatewayNode(cfg, ROOT), ['--version']),
      nginx: nginxBin === null ? 'not installed' : nginxVersion(nginxBin),
      wrk: wrkBin === null ? 'not installed' : commandVersion(wrkBin, ['-v']),
    },
    config: cfg,
    summary: [],
    details: [],
    notes,
    baselineName: cfg.baselineRev === '' ? null : targetName(cfg, 'baseline'),
    durationSec: 0,
  };

  {
    const m0 = cpuMark();
    await sleep(2000);
    const { foreignPct, stealPct } = cpuInterference(m0, cpuMark());
    load.push({ name: 'before start (idle check)', seconds: 2, foreignPct, stealPct });
    if (foreignPct > 15) {
      console.error(`\n!!!!! the machine is busy: ${foreignPct.toFixed(0)}% of a core is used by other processes; numbers will be unreliable !!!!!\n`);
    }
  }

  const [backendPort, proxyHttpPort, proxyWsPort, echoPort, gatewayPort, idleGatewayPort, coldGatewayPort, cpPort, runnerPort, goPort, undiciPort, baselinePort] =
    await Promise.all(Array.from({ length: 12 }, () => freePort()));
  const port = (n: number | undefined): number => {
    if (n === undefined) throw new Error('no port');
    return n;
  };
  const ports: Ports = {
    backend: port(backendPort),
    proxyHttp: port(proxyHttpPort),
    proxyWs: port(proxyWsPort),
    goProxy: port(goPort),
    undiciProxy: port(undiciPort),
    echo: port(echoPort),
    gateway: port(gatewayPort),
    baseline: port(baselinePort),
    idleGateway: port(idleGatewayPort),
    coldGateway: port(coldGatewayPort),
    cp: port(cpPort),
    runner: port(runnerPort),
  };

  // Backends and the reference proxy.
  const available = perTarget(() => false);
  const httpBase: Record<Target, string> = {
    direct: `http://127.0.0.1:${ports.backend}`,
    nginx: `http://127.0.0.1:${ports.proxyHttp}`,
    go: `http://127.0.0.1:${ports.goProxy}`,
    undici: `http://127.0.0.1:${ports.undiciProxy}`,
    gateway: `http://127.0.0.1:${ports.gateway}`,
    baseline: `http://127.0.0.1:${ports.baseline}`,
  };
  // The peers proxy HTTP only (the WebSocket sections compare direct, nginx and the gateway).
  const wsUrl: Record<Target, string> = {
    direct: `ws://127.0.0.1:${ports.echo}/`,
    nginx: `ws://127.0.0.1:${ports.proxyWs}/`,
    go: '',
    undici: '',
    gateway: `ws://127.0.0.1:${ports.gateway}/`,
    baseline: `ws://127.0.0.1:${ports.baseline}/`,
  };
  // Same request bytes everywhere: the nginx servers ignore the gateway's Host and token.
  const httpHeaders = { Host: HTTP_HOST, 'X-Daytona-Preview-Token': TOKEN };
  const wsHeaders = { Host: WS_HOST, 'X-Daytona-Preview-Token': TOKEN };

  const echo = startProcess({
    name: 'ws-echo',
    command: process.execPath,
    args: [join(HERE, 'servers.js'), 'ws-echo', '--port', String(ports.echo)],
    logPath: join(logDir, 'ws-echo.log'),
    protocol: true,
  });
  await echo.waitForJson((m) => m['ready'] === true, 10_000);
  let nginxProxy: Tracked | null = null;
  const peerProcs: { go: Tracked | null; undici: Tracked | null } = { go: null, undici: null };
  if (nginxBin !== null) {
    const backendConf = writeBackendConfig(tmp, www, ports.backend, nofile);
    const backend = startProcess({
      name: 'nginx-backend',
      command: nginxBin,
      args: ['-p', tmp, '-c', backendConf, '-e', join(tmp, 'backend-error.log')],
      logPath: join(logDir, 'nginx-backend.log'),
    });
    await waitHttpOk(`${httpBase.direct}/100b`, {}, 10_000, backend);
    available.direct = true;
    const proxyConf = writeProxyConfig(tmp, ports.proxyHttp, ports.proxyWs, ports.backend, ports.echo, nofile);
    nginxProxy = startProcess({
      name: 'nginx-proxy',
      command: nginxBin,
      args: ['-p', tmp, '-c', proxyConf, '-e', join(tmp, 'proxy-error.log')],
      cpus: cfg.proxyCpu,
      logPath: join(logDir, 'nginx-proxy.log'),
    });
    await waitHttpOk(`${httpBase.nginx}/100b`, {}, 10_000, nginxProxy);
    available.nginx = true;
    if (['http', 'rate'].some((s) => cfg.sections.has(s))) await startPeers();
  } else {
    note('nginx unavailable: no static backend, so the HTTP sections are skipped and WebSocket runs have no nginx column');
  }

  async function startPeers(): Promise<void> {
    const built = process.env['BENCH_NO_INSTALL'] === '1' && findBinary('go') === null ? { error: 'go is not installed (BENCH_NO_INSTALL=1)' } : buildGoProxy(tmp, aptLog);
    if ('error' in built) {
      note(`Go proxy row SKIPPED: ${built.error}`);
    } else {
      try {
        peerProcs.go = await startGoProxy(cfg, built.bin, ports.goProxy, ports.backend, logDir);
        available.go = true;
        report.versions['go'] = built.version;
      } catch (err) {
        note(`Go proxy did not start: ${errMessage(err)}`);
      }
    }
    try {
      peerProcs.undici = await startUndiciProxy(cfg, ports.undiciProxy, ports.backend, logDir);
      available.undici = true;
    } catch (err) {
      note(`bare undici proxy did not start: ${errMessage(err)}`);
    }
  }

  // The gateway on the embedded control plane.
  const sandboxesFile = join(tmp, 'sandboxes.json');
  writeFileSync(
    sandboxesFile,
    `${JSON.stringify(
      {
        sandboxes: {
          [SANDBOX]: {
            public: false,
            previewTokens: [TOKEN],
            ports: { '8080': `http://127.0.0.1:${ports.backend}`, '8081': `http://127.0.0.1:${ports.echo}` },
          },
        },
      },
      null,
      2,
    )}\n`,
  );
  const embeddedEnv = { SANDBOXES_FILE: sandboxesFile, SESSION_SECRET: randomBytes(32).toString('hex') };
  const needMainGateway = ['http', 'rate', 'ws'].some((s) => cfg.sections.has(s));
  // The baseline gateway (BENCH_BASELINE_REV) runs beside the current one, from its own build.
  const gatewayRoot: Record<GatewayTarget, string> = { gateway: ROOT, baseline: '' };
  if (cfg.baselineRev !== '' && (needMainGateway || cfg.sections.has('idle') || cfg.sections.has('cold'))) {
    step(`preparing the baseline gateway ${targetName(cfg, 'baseline')} (git archive, npm ci, npm run build; cached in ${tmpdir()}/bench-baseline-*)`);
    try {
      const b = prepareBaseline(cfg.baselineRev, join(logDir, 'baseline-build.log'));
      gatewayRoot.baseline = b.root;
      report.versions['baseline'] = `${cfg.baselineRev} = ${b.sha.slice(0, 12)}`;
      report.versions['baseline node'] = commandVersion(gatewayNode(cfg, b.root), ['--version']);
      info(`${targetName(cfg, 'baseline')} is commit ${b.sha}, ${b.reused ? 'reused from' : 'built in'} ${b.root}`);
    } catch (err) {
      note(`baseline gateway ${targetName(cfg, 'baseline')} SKIPPED: its build failed: ${errMessage(err)}`);
    }
  }
  const gateways: Record<GatewayTarget, Tracked | null> = { gateway: null, baseline: null };
  const gatewayRestarts: Record<GatewayTarget, number> = { gateway: 0, baseline: 0 };
  const startMainGateway = (t: GatewayTarget, name: string): Promise<Tracked> => startGateway({ cfg, logDir }, name, ports[t], embeddedEnv, gatewayRoot[t]);
  // A gateway is restarted (loudly) if it exits by itself between or during measurements; a measurement
  // during which it exited is discarded and run once more.
  const ensureGateway = async (t: GatewayTarget): Promise<Tracked> => {
    const running = gateways[t];
    if (running !== null && running.alive) return running;
    const name = targetName(cfg, t);
    if (gatewayRestarts[t] >= 3) throw new Error(`the ${name} exited by itself 3 times: giving up on it`);
    gatewayRestarts[t]++;
    note(`restarting the ${name} (restart ${gatewayRestarts[t]})`);
    const g = await startMainGateway(t, `${t}-restart${gatewayRestarts[t]}`);
    gateways[t] = g;
    for (let i = 0; i < 100; i++) await httpGet(`${httpBase[t]}/100b`, httpHeaders).catch(() => undefined);
    return g;
  };
  const guarded = async <T>(t: Target, label: string, run: () => Promise<T>): Promise<T> => {
    if (!isGatewayTarget(t)) return run();
    for (let attempt = 0; ; attempt++) {
      const g = await ensureGateway(t);
      const res = await run();
      if (g.alive) return res;
      note(`the ${targetName(cfg, t)} exited during ${label}: that result is discarded`);
      if (attempt >= 1) throw new Error(`the ${targetName(cfg, t)} exited during ${label} twice`);
    }
  };
  if (needMainGateway) {
    for (const t of ['gateway', 'baseline'] as const) {
      if (gatewayRoot[t] === '') continue;
      step(`starting ${targetName(cfg, t)} (embedded control plane)`);
      try {
        gateways[t] = await startMainGateway(t, t);
        available[t] = true;
      } catch (err) {
        note(`${targetName(cfg, t)} did not start: ${errMessage(err)}`);
      }
    }
  }

  // Every target must answer the exact bytes of a size before it is measured with it.
  const sizeOk: Record<Target, Record<Size, boolean>> = perTarget((t) => ({ '100b': available[t], '1m': available[t] }));
  if (available.direct) {
    for (const t of TARGETS) {
      if (!available[t]) continue;
      for (const s of SIZES) {
        try {
          const r = await httpGet(`${httpBase[t]}/${s.key}`, httpHeaders, 10_000);
          if (r.status !== 200 || r.bytes !== s.bytes) {
            note(`${t} GET /${s.key}: status ${r.status}, ${r.bytes} bytes (want 200, ${s.bytes}): ${t} left out of the ${s.label} runs`);
            sizeOk[t][s.key] = false;
          }
        } catch (err) {
          note(`${t} GET /${s.key} (${s.label}) failed: ${err instanceof Error ? err.message : String(err)}: ${t} left out of the ${s.label} runs`);
          sizeOk[t][s.key] = false;
        }
      }
    }
  }

  const ctx: BenchContext = {
    cfg,
    logDir,
    ports,
    report,
    httpBase,
    wsUrl,
    httpHeaders,
    wsHeaders,
    available,
    sizeOk,
    wrkBin,
    proxyProcess: (t) => (t === 'nginx' ? nginxProxy : t === 'go' || t === 'undici' ? peerProcs[t] : isGatewayTarget(t) ? gateways[t] : null),
    embeddedEnv,
    gatewayRoot,
    note,
    info,
    step,
    guarded,
  };
  await section('http', wrkBin !== null && available.direct, () => runHttpThroughput(ctx));
  await section('rate', available.direct, () => runFixedRate(ctx));
  await section('ws', true, () => runWsEcho(ctx));
  for (const g of Object.values(gateways)) if (g !== null) await g.stop();
  await section('idle', cfg.idleCount > 0, () => runIdleWs(ctx));
  await section('cold', true, () => runCold(ctx));
  await section('fleet', true, () => runFleetCold(ctx));
  await section('workers', wrkBin !== null && available.direct, () => runWorkers(ctx));

  await stopAll();
  const worse = report.summary.filter((s) => s.nowVsBaseline?.includes('WORSE') === true);
  if (worse.length > 0) {
    notes.unshift(`**now / baseline worse by more than 5 % in: ${worse.map((s) => `${s.metric} (${s.nowVsBaseline ?? ''})`).join('; ')}.**`);
  }
  const busy = load.filter((l) => l.foreignPct > 15);
  if (busy.length > 0) {
    notes.unshift(
      `**WARNING: the machine was busy with other work during ${busy.map((l) => l.name).join(', ')} ` +
        `(up to ${Math.max(...busy.map((l) => l.foreignPct)).toFixed(0)}% of a core used outside the bench): those numbers are unreliable; rerun on a quiet machine.**`,
    );
  }
  report.details.push({
    title: 'Interference: CPU used by processes outside the bench, and steal time, during each section (% of one core; /proc/stat minus the bench process tree)',
    header: ['Section', 'seconds', 'foreign CPU %', 'steal %'],
    rows: load.map((l) => [l.name, fmtNum(l.seconds), fmtNum(l.foreignPct, 1), fmtNum(l.stealPct, 1)]),
  });
  report.durationSec = Math.round((Date.now() - started) / 1000);
  const md = renderReport(report);
  process.stdout.write(`\n${md}`);
  if (cfg.results !== 'none') {
    writeFileSync(cfg.results, md);
    console.error(`(results written to ${cfg.results})`);
  }
  if (notes.some((n) => n.includes('failed') || n.includes('did not start'))) keepTmp = true;
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    if (isShuttingDown()) return; // the signal handler ends the process
    keepTmp = true;
    console.error('!! bench failed:', err instanceof Error ? (err.stack ?? err.message) : String(err));
    await stopAll();
    process.exit(1);
  },
);

