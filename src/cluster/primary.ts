// cluster/ owns WORKERS > 1: the primary forks and restarts workers, relays invalidations and
// claims between them (worker-link.ts, messages.ts), and serves the summed /metrics.
import cluster, { type Worker } from 'node:cluster'
import type { Server } from 'node:http'
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client'
import type { Config } from '../config/load.js'
import { LocalFleet } from '../fleet/hooks.js'
import type { Logger } from '../log.js'
import { createMetricsServer } from '../metrics/metrics.js'
import { asToPrimary, type ToWorker } from './messages.js'

/** Crash loops: a worker that dies again soon after a restart waits longer (capped). */
const RESTART_BASE_MS = 100
const RESTART_MAX_MS = 5000
const CRASH_WINDOW_MS = 30_000
/** Beyond SPEC §8's delay + timeout, the primary stops waiting for a stuck worker. */
const DRAIN_GRACE_MS = 5000
/** A scrape aggregates the workers that answered by then (a worker stuck or dying is left out). */
const SCRAPE_WAIT_MS = 2000

interface Scrape {
  readonly responses: object[]
  readonly waiting: Set<number>
  done(): void
}

function ignore(): void {}

/**
 * WORKERS > 1: this process serves no request. It forks the workers (they share PROXY_PORT through
 * node:cluster), restarts one that crashes, relays invalidations and one-time claims between them,
 * answers METRICS_PORT once for the pod (the listening workers' registries merged with prom-client's
 * AggregatorRegistry.aggregate(), plus the primary's worker counters; our own request/answer over
 * IPC instead of clusterMetrics(), which waits 5 s on a worker still loading and then fails), and on SIGTERM/SIGINT tells every worker to
 * drain, exiting 0 when the last one has.
 */
export function runPrimary(config: Config, log: Logger): void {
  const claims = new LocalFleet(ignore)
  const listening = new Set<number>()
  const registry = new Registry()
  const restarts = new Counter({ name: 'gateway_worker_restarts_total', help: 'Workers restarted after they exited outside a drain.', registers: [registry] })
  new Gauge({ name: 'gateway_workers', help: 'Worker processes alive in this pod.', registers: [registry], collect() { this.set(alive.size) } })
  let draining = false
  let startupAnnounced = false
  let recentCrashes = 0
  let lastCrashAt = 0
  let metricsServer: Server | undefined
  const scrapes = new Map<number, Scrape>()
  let scrapeSeq = 0

  const send = (w: Worker, m: ToWorker): void => {
    if (w.isConnected()) w.send(m, undefined, ignore)
  }
  // Our own roster: cluster.workers may still list a worker at its 'exit' until its IPC closes.
  const alive = new Map<number, Worker>()
  const workers = (): Worker[] => [...alive.values()]
  const fork = (): void => { const w = cluster.fork(); alive.set(w.id, w) }
  let drainFailed = false

  cluster.on('message', (from: Worker, raw: unknown) => {
    const m = asToPrimary(raw)
    if (m === undefined) return
    if (m.type === 'gw:metrics') {
      const sc = scrapes.get(m.seq)
      if (sc !== undefined && sc.waiting.delete(from.id)) {
        sc.responses.push(m.metrics)
        if (sc.waiting.size === 0) sc.done()
      }
      return
    }
    if (m.type === 'gw:invalidate') {
      for (const w of workers()) if (w.id !== from.id) send(w, { type: 'gw:invalidate', id: m.id })
      return
    }
    if (m.type === 'gw:unclaim') { claims.releaseClaim(m.key); return }
    void claims.claimOnce(m.key, m.ttlSec).then((first) => send(from, { type: 'gw:claimed', seq: m.seq, first }))
  })

  cluster.on('listening', (w: Worker, address: { port: number }) => {
    // Only PROXY_PORT counts (the embedded demo app listens too).
    if (address.port !== config.port) return
    listening.add(w.id)
    if (!startupAnnounced && listening.size >= config.workers) {
      startupAnnounced = true
      log.info({ workers: config.workers, port: config.port }, 'preview gateway workers listening')
    }
  })

  cluster.on('exit', (w: Worker, code: number | null, signal: string | null) => {
    const wasListening = listening.delete(w.id)
    alive.delete(w.id)
    for (const sc of scrapes.values()) if (sc.waiting.delete(w.id) && sc.waiting.size === 0) sc.done()
    if (draining) {
      if (code !== 0) drainFailed = true
      if (alive.size === 0) finish()
      return
    }
    if (!wasListening && !startupAnnounced) {
      // A worker that cannot even start (port taken, bad registry) will not start on a retry.
      process.stderr.write(`start-up error: worker ${w.id} exited during start-up (code ${code ?? 'none'}, signal ${signal ?? 'none'})\n`)
      for (const other of workers()) other.process.kill('SIGKILL')
      process.exit(2)
    }
    const now = Date.now()
    recentCrashes = now - lastCrashAt < CRASH_WINDOW_MS ? recentCrashes + 1 : 0
    lastCrashAt = now
    const delayMs = recentCrashes === 0 ? 0 : Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** recentCrashes)
    restarts.inc()
    log.warn({ worker: w.id, workerPid: w.process.pid, code, signal, restartInMs: delayMs }, 'worker exited; restarting it')
    setTimeout(() => { if (!draining) fork() }, delayMs)
  })

  const finish = (): void => {
    const code = drainFailed ? 1 : 0
    log.info('all workers drained, exiting')
    log.flush?.()
    if (metricsServer === undefined) process.exit(code)
    metricsServer.closeAllConnections()
    metricsServer.close(() => process.exit(code))
  }

  const onSignal = (signal: NodeJS.Signals): void => {
    if (draining) {
      log.warn({ signal }, 'second signal: stopping workers now')
      for (const w of workers()) w.process.kill('SIGKILL')
      process.exit(1)
    }
    draining = true
    log.info({ signal, workers: workers().length, delayMs: config.shutdownDelayMs, timeoutMs: config.shutdownTimeoutMs }, 'draining workers')
    if (workers().length === 0) { finish(); return }
    for (const w of workers()) send(w, { type: 'gw:drain' })
    setTimeout(() => {
      log.error({ workers: workers().length }, 'workers did not finish draining in time; killing them')
      for (const w of workers()) w.process.kill('SIGKILL')
      process.exit(1)
    }, config.shutdownDelayMs + config.shutdownTimeoutMs + DRAIN_GRACE_MS).unref()
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)

  /** Every listening worker's registry, merged (counters and histograms summed, per-metric aggregators). */
  const podMetrics = (): Promise<string> => new Promise<string>((resolve, reject) => {
    const seq = ++scrapeSeq
    const targets = workers().filter((w) => listening.has(w.id) && w.isConnected())
    let timer: NodeJS.Timeout | undefined
    const sc: Scrape = {
      responses: [],
      waiting: new Set(targets.map((w) => w.id)),
      done: () => {
        clearTimeout(timer)
        if (!scrapes.delete(seq)) return
        AggregatorRegistry.aggregate(sc.responses).metrics().then(resolve, reject)
      },
    }
    scrapes.set(seq, sc)
    timer = setTimeout(sc.done, SCRAPE_WAIT_MS)
    for (const w of targets) send(w, { type: 'gw:scrape', seq })
    if (targets.length === 0) sc.done()
  })

  if (config.metricsPort !== undefined) {
    const server = createMetricsServer(() => Promise.all([podMetrics(), registry.metrics()]).then(([pod, own]) => pod + own), registry.contentType)
    server.once('error', (err: NodeJS.ErrnoException) => {
      process.stderr.write(`start-up error: cannot listen on ${config.metricsBind}:${config.metricsPort} for metrics (${err.code ?? err.message})\n`)
      for (const w of workers()) w.process.kill('SIGKILL')
      process.exit(2)
    })
    server.listen(config.metricsPort, config.metricsBind, () => { metricsServer = server })
  }

  for (let i = 0; i < config.workers; i++) fork()
}
