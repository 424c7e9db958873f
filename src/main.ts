import cluster from 'node:cluster'
import { runPrimary } from './cluster/primary.js'
import { WorkerLink } from './cluster/worker-link.js'
import { ConfigError, describeConfig, loadConfig, type Config } from './config/load.js'
import { createGateway, VERSION } from './gateway.js'
import { startHeapReclaim } from './heap-reclaim.js'
import { createLogger, type Logger } from './log.js'
import { applyV8Flags, lowerTurbofanThresholdOnceWarm, TURBOFAN_INVOCATIONS } from './v8-flags.js'

/**
 * The only entry: loadConfig() → createGateway(config) → listen; SIGTERM/SIGINT → drain → exit 0.
 * WORKERS > 1: this process becomes the cluster primary (src/cluster/primary.ts) and each forked
 * worker runs this same file down the single-process path, draining when the primary says so.
 */
async function main(): Promise<void> {
  applyV8Flags()
  let config: Config
  try {
    config = loadConfig(process.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const line of err.problems) process.stderr.write(`config error: ${line}\n`)
      process.exit(2)
    }
    throw err
  }
  const root = createLogger(config.logLevel)
  if (config.workers > 1 && cluster.isPrimary) {
    root.info({ version: VERSION, port: config.port, workers: config.workers, config: describeConfig(config) }, 'preview gateway primary starting workers')
    runPrimary(config, root)
    return
  }
  const worker = cluster.isWorker ? cluster.worker : undefined
  if (worker !== undefined) await runWorker(config, root.child({ worker: worker.id, pid: process.pid }))
  else await runSingle(config, root)
}

/** WORKERS=1: exactly the process it always was. */
async function runSingle(config: Config, log: Logger): Promise<void> {
  const gateway = await start(config, log, undefined)
  let stopping = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    stopping = true
    drain(config, log, gateway, signal)
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
}

/**
 * One worker of a pod. The primary owns the listening socket and METRICS_PORT (it asks this
 * worker's registry over IPC), so the worker never opens the metrics port itself. A terminal's
 * Ctrl-C reaches the whole process group: the worker's own signal and the primary's drain order
 * start the same single drain; a second one is the primary's decision, not the worker's.
 */
async function runWorker(config: Config, log: Logger): Promise<void> {
  const link = new WorkerLink()
  const gateway = await start({ ...config, metricsPort: undefined }, log, link)
  link.onInvalidate((id) => gateway.invalidateLocal(id))
  link.serveMetrics(gateway.metrics.registry)
  let stopping = false
  const once = (reason: string): void => {
    if (stopping) return
    stopping = true
    drain(config, log, gateway, reason)
  }
  link.onDrain(() => once('primary'))
  process.on('SIGTERM', () => once('SIGTERM'))
  process.on('SIGINT', () => once('SIGINT'))
  // The primary is gone (killed): nothing reaches this worker any more; finish what is in flight.
  process.on('disconnect', () => once('primary gone'))
}

type Started = Awaited<ReturnType<typeof createGateway>>

async function start(config: Config, log: Logger, link: WorkerLink | undefined): Promise<Started> {
  let gateway: Started
  try {
    gateway = await createGateway(config, log, link === undefined ? {} : { wrapFleet: (f) => link.wrap(f) })
  } catch (err) {
    process.stderr.write(`start-up error: ${(err as Error).message}\n`)
    process.exit(2)
  }
  const addr = await gateway.listen().catch((err: NodeJS.ErrnoException & { configKey?: string; address?: string }) => {
    process.stderr.write(`start-up error: ${err.configKey ?? 'PROXY_PORT'}: cannot listen on ${err.address ?? `${config.bind}:${config.port}`} (${err.code ?? err.message})\n`)
    process.exit(2)
  })
  log.info({ version: VERSION, port: addr.port, config: describeConfig(config) }, 'preview gateway listening')
  lowerTurbofanThresholdOnceWarm({ onLowered: () => log.info({ calls: TURBOFAN_INVOCATIONS }, 'warm: TurboFan threshold lowered') })
  const MiB = 1024 * 1024
  startHeapReclaim({
    onReclaim: (r) => log.info({ ms: Math.round(r.ms), rssMiB: Math.round(r.rssBefore / MiB), rssAfterMiB: Math.round(r.rssAfter / MiB) }, 'quiet after load: heap reclaimed'),
  })
  return gateway
}

/** SPEC §8: readiness false at once, serve through the pre-stop delay, then drain and exit 0. */
function drain(config: Config, log: Logger, gateway: Started, signal: string): void {
  gateway.setDraining()
  log.info({ signal, delayMs: config.shutdownDelayMs, timeoutMs: config.shutdownTimeoutMs }, 'draining')
  setTimeout(() => {
    gateway.close(config.shutdownTimeoutMs).then(
      () => { log.info('drained, exiting'); log.flush?.(); process.exit(0) },
      () => process.exit(1),
    )
  }, config.shutdownDelayMs)
}

void main()
