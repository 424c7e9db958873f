import { ConfigError, describeConfig, loadConfig } from './config/load.js'
import { createGateway, VERSION } from './gateway.js'
import { createLogger } from './log.js'

/** The only entry: loadConfig() → createGateway(config) → listen; SIGTERM/SIGINT → drain → exit 0. */
async function main(): Promise<void> {
  let config
  try {
    config = loadConfig(process.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const line of err.problems) process.stderr.write(`config error: ${line}\n`)
      process.exit(2)
    }
    throw err
  }
  const log = createLogger(config.logLevel)
  let gateway
  try {
    gateway = await createGateway(config, log)
  } catch (err) {
    process.stderr.write(`start-up error: ${(err as Error).message}\n`)
    process.exit(2)
  }
  const addr = await gateway.listen().catch((err: NodeJS.ErrnoException) => {
    process.stderr.write(`start-up error: cannot listen on ${config.bind}:${config.port} (${err.code ?? err.message})\n`)
    process.exit(2)
  })
  log.info({ version: VERSION, port: addr.port, config: describeConfig(config) }, 'preview gateway listening')

  let stopping = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    stopping = true
    gateway.setDraining()
    log.info({ signal, delayMs: config.shutdownDelayMs, timeoutMs: config.shutdownTimeoutMs }, 'draining')
    setTimeout(() => {
      gateway.close(config.shutdownTimeoutMs).then(
        () => { log.info('drained, exiting'); log.flush?.(); process.exit(0) },
        () => process.exit(1),
      )
    }, config.shutdownDelayMs)
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
}

void main()
