import { BlockList, isIPv4, isIPv6 } from 'node:net'
import { parseTrustedProxy } from '../config/trusted-proxy-entry.js'

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
