import { isIPv4, isIPv6 } from 'node:net'

/** One validated TRUSTED_PROXIES entry (SPEC §10); config load checks them, forward/trusted-proxies.ts matches peers against them. */
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
