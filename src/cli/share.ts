// cli/ owns the operator commands run by hand against the embedded registry (npm run share,
// npm run sandbox); nothing here runs inside the gateway process.
import { readFileSync, writeFileSync } from 'node:fs'
import { ConfigError, loadConfig } from '../config/load.js'
import { readRegistry } from '../control-plane/registry.js'
import { mintShareLink, shareLinkKey } from '../control-plane/share-link.js'
import { embeddedSigningKey } from '../control-plane/embedded.js'
import { computeFileUrlSignature } from '../auth/signed-file-url.js'
import type { Config } from '../config/load.js'

/**
 * `npm run share -- <sandboxId> <port> [--ttl 1h]` prints a signed, expiring preview URL of the
 * embedded control plane; `npm run share -- --revoke <linkId>` revokes one (the running gateway
 * picks the change up from the registry file within a second; the link dies within 60 s).
 * `npm run share -- --file-url <sandboxId> <path> [--upload] [--ttl …]` prints a signed toolbox
 * file URL (SPEC §10) as the Daytona SDK's `downloadUrl()` / `uploadUrl()` would (`--ttl 0`: never expires).
 */
const USAGE = 'usage: npm run share -- <sandboxId> <port> [--ttl 30m|2h|7d|SECONDS]\n       npm run share -- --revoke <linkId>\n       npm run share -- --file-url <sandboxId> <path> [--upload] [--ttl 30m|2h|7d|SECONDS|0]'

function parseTtl(s: string): number | null {
  const m = /^(\d+)([smhd]?)$/.exec(s)
  if (m === null) return null
  const n = Number(m[1])
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd']
  const ttl = n * unit
  return ttl >= 1 && ttl <= 366 * 86400 ? ttl : null
}

function fail(msg: string): never {
  process.stderr.write(msg + '\n')
  process.exit(2)
}

function main(argv: string[]): void {
  let config
  try { config = loadConfig(process.env) } catch (err) {
    if (err instanceof ConfigError) fail(err.problems.map((p) => `config error: ${p}`).join('\n'))
    throw err
  }
  if (config.apiUrl !== undefined) fail('share links are minted by the Daytona API when DAYTONA_API_URL is set; this command serves the embedded control plane only')

  if (argv[0] === '--file-url') return fileUrl(config, argv.slice(1))
  if (argv[0] === '--revoke') {
    const id = argv[1]
    if (id === undefined || !/^[0-9a-f]{12}$/.test(id)) fail(USAGE)
    const doc = JSON.parse(readFileSync(config.sandboxesFile, 'utf8')) as { revokedLinks?: string[] }
    const list = new Set(doc.revokedLinks ?? [])
    list.add(id)
    doc.revokedLinks = [...list]
    writeFileSync(config.sandboxesFile, JSON.stringify(doc, null, 2) + '\n')
    process.stdout.write(`revoked ${id}\n`)
    return
  }

  const [sandboxId, portArg, ...rest] = argv
  if (sandboxId === undefined || portArg === undefined) fail(USAGE)
  const port = Number(portArg)
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`not a port: ${portArg}\n${USAGE}`)
  let ttl = 3600
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--ttl') {
      const t = parseTtl(rest[++i] ?? '')
      if (t === null) fail(`bad --ttl\n${USAGE}`)
      ttl = t
    } else fail(USAGE)
  }
  const registry = readRegistry(config.sandboxesFile)
  if (!registry.sandboxes.has(sandboxId)) fail(`no sandbox ${JSON.stringify(sandboxId)} in ${config.sandboxesFile}`)
  const link = mintShareLink(shareLinkKey(config.sessionSecret), sandboxId, port, ttl)
  process.stdout.write(`${config.protocol}://${port}-${link.token}.${baseAuthority(config)}/\n`)
  process.stderr.write(`link id ${link.linkId}, expires ${new Date(link.expiresAt * 1000).toISOString()} (revoke: npm run share -- --revoke ${link.linkId})\n`)
}

/** `{domain}[:{public port}]` of the first base domain. */
function baseAuthority(config: Config): string {
  const domain = config.domains[0] ?? 'localhost'
  const publicPort = config.publicPort ?? config.port
  const defaultPort = config.protocol === 'https' ? 443 : 80
  return publicPort === defaultPort ? domain : `${domain}:${publicPort}`
}

function fileUrl(config: Config, argv: string[]): void {
  const [sandboxId, path, ...rest] = argv
  if (sandboxId === undefined || path === undefined || path === '') fail(USAGE)
  let ttl = 3600
  let upload = false
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--upload') upload = true
    else if (rest[i] === '--ttl') {
      const v = rest[++i] ?? ''
      const t = v === '0' ? 0 : parseTtl(v)
      if (t === null) fail(`bad --ttl\n${USAGE}`)
      ttl = t
    } else fail(USAGE)
  }
  const registry = readRegistry(config.sandboxesFile)
  if (!registry.sandboxes.has(sandboxId)) fail(`no sandbox ${JSON.stringify(sandboxId)} in ${config.sandboxesFile}`)
  const expires = ttl === 0 ? 0 : Math.floor(Date.now() / 1000) + ttl
  const method = upload ? 'POST' : 'GET'
  const signature = computeFileUrlSignature(embeddedSigningKey(shareLinkKey(config.sessionSecret), sandboxId), method, path, String(expires))
  const query = new URLSearchParams({ path, expires: String(expires), signature })
  process.stdout.write(`${config.protocol}://${baseAuthority(config)}/toolbox/${sandboxId}/files/${upload ? 'upload-v2' : 'download'}?${query.toString()}\n`)
}

main(process.argv.slice(2))
