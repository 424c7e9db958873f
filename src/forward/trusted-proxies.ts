import { BlockList, isIPv4, isIPv6 } from 'node:net'

/**
 * SPEC §10 `TRUSTED_PROXIES`: the peers whose `X-Forwarded-For/-Host/-Proto` the gateway keeps
 * (a load balancer in front); everyone else's are replaced (the reference appends blindly,
 * daytona #4846). Matching by node:net BlockList; an IPv4-mapped IPv6 peer (`::ffff:10.0.0.1`,
 * what a dual-stack listener reports) is matched as the IPv4 address it is.
 */
export class TrustedProxies {
  readonly #list = new BlockList()
  readonly #empty: boolean

  /** Entries were validated by parseTrustedProxy (config load). */
  constructor(entries: readonly string[]) {
    this.#empty = entries.length === 0
    for (const e of entries) {
      const p = parseTrustedProxy(e)
      if (p === null) throw new Error(`TRUSTED_PROXIES: ${JSON.stringify(e)} is not an IP address or CIDR`)
      if (p.prefix === undefined) this.#list.addAddress(p.address, p.family)
      else this.#list.addSubnet(p.address, p.prefix, p.family)
    }
  }

  isTrusted(peer: string | undefined): boolean {
    if (this.#empty || peer === undefined || peer === '') return false
    if (peer.length > 7 && peer.charCodeAt(0) === 58 /* : */ && peer.slice(0, 7).toLowerCase() === '::ffff:' && isIPv4(peer.slice(7))) {
      return this.#list.check(peer.slice(7), 'ipv4') || this.#list.check(peer, 'ipv6')
    }
    if (isIPv4(peer)) return this.#list.check(peer, 'ipv4')
    return isIPv6(peer) && this.#list.check(peer, 'ipv6')
  }
}

export interface TrustedProxy {
  readonly address: string
  readonly family: 'ipv4' | 'ipv6'
  /** undefined: a single address. */
  readonly prefix: number | undefined
}

/** `10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`, `::1`; null when it is none of these. */
export function parseTrustedProxy(entry: string): TrustedProxy | null {
  const slash = entry.indexOf('/')
  const address = slash === -1 ? entry : entry.slice(0, slash)
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null
  if (family === null) return null
  if (slash === -1) return { address, family, prefix: undefined }
  const bits = entry.slice(slash + 1)
  const max = family === 'ipv4' ? 32 : 128
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return null
  return { address, family, prefix: Number(bits) }
}
