/**
 * Assertions shared by the e2e files: the SPEC §7 error shape, the runner echo, Set-Cookie and
 * Cookie parsing, and "this text holds none of these secrets".
 */
import assert from 'node:assert/strict'
import { STATUS_CODES } from 'node:http'
import type { IncomingHttpHeaders } from 'node:http'
import type { EchoBody } from '../fakes/runner.js'
import type { Reply } from './http.js'
import type { RawResponse } from './raw-http.js'

export const ERROR_KEYS = ['code', 'error', 'message', 'source', 'statusCode'] as const

type HeaderBag = IncomingHttpHeaders | Readonly<Record<string, string>>

function header(h: HeaderBag, name: string): string | undefined {
  const v = (h as Record<string, string | string[] | undefined>)[name]
  return Array.isArray(v) ? v.join(', ') : v
}

/**
 * SPEC §7: status, `X-Preview-Error: {code}`, `Cache-Control: no-store`, and the JSON body
 * `{"statusCode","error","code","message","source":"DAYTONA_PROXY"}` with nothing else in it.
 */
export function assertGatewayError(reply: Reply | RawResponse, status: number | readonly number[], code: string): Record<string, unknown> {
  const statuses = typeof status === 'number' ? [status] : status
  const text = reply.body.toString('utf8')
  assert.ok(statuses.includes(reply.status), `expected status ${statuses.join('/')} (${code}), got ${reply.status}: ${text.slice(0, 300)}`)
  assert.equal(header(reply.headers, 'x-preview-error'), code, 'X-Preview-Error header')
  assert.match(header(reply.headers, 'cache-control') ?? '', /no-store/, 'Cache-Control: no-store on a gateway answer')
  assert.match(header(reply.headers, 'content-type') ?? '', /^application\/json/, 'JSON error body for a non-navigation')
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    assert.fail(`error body is not JSON: ${text.slice(0, 300)}`)
  }
  assert.ok(body !== null && typeof body === 'object' && !Array.isArray(body), 'error body is an object')
  const obj = body as Record<string, unknown>
  // SPEC §10: `daytonaCode` may stand beside our code.
  assert.deepEqual(Object.keys(obj).filter((k) => k !== 'daytonaCode').sort(), [...ERROR_KEYS], 'error body has exactly statusCode, error, code, message, source (and maybe daytonaCode)')
  assert.equal(obj.statusCode, reply.status, 'body statusCode equals the HTTP status')
  assert.equal(obj.error, STATUS_CODES[reply.status], 'body error is the status reason phrase')
  assert.equal(obj.code, code, 'body code')
  assert.equal(obj.source, 'DAYTONA_PROXY', 'body source')
  assert.equal(typeof obj.message, 'string', 'message is a string')
  assert.ok((obj.message as string).length > 0, 'message is not empty')
  assert.doesNotMatch(text, /\n\s+at .+:\d+:\d+/, 'no stack trace in the body')
  return obj
}

/** A 200 answer from the runner's echo route, parsed. */
export function echoOf(reply: Reply): EchoBody {
  assert.equal(reply.status, 200, `expected the runner's echo (200), got ${reply.status}: ${reply.text.slice(0, 300)}`)
  assert.equal(reply.headers['x-runner-echo'], '1', 'answer came from the fake runner echo route')
  return reply.json() as EchoBody
}

/** Values of a header in an echo's raw request headers (case-insensitive). */
export function echoHeader(echo: EchoBody, name: string): string[] {
  const out: string[] = []
  const lower = name.toLowerCase()
  for (let i = 0; i + 1 < echo.rawHeaders.length; i += 2) {
    if ((echo.rawHeaders[i] ?? '').toLowerCase() === lower) out.push(echo.rawHeaders[i + 1] ?? '')
  }
  return out
}

export interface SetCookie {
  readonly raw: string
  readonly name: string
  readonly value: string
  /** Attributes after the pair, trimmed, in order (e.g. `HttpOnly`, `Path=/`). */
  readonly attributes: readonly string[]
}

export function parseSetCookies(headers: IncomingHttpHeaders): SetCookie[] {
  const list = headers['set-cookie'] ?? []
  return list.map((raw) => {
    const parts = raw.split(';').map((p) => p.trim())
    const pair = parts[0] ?? ''
    const eq = pair.indexOf('=')
    return { raw, name: eq < 0 ? pair : pair.slice(0, eq), value: eq < 0 ? '' : pair.slice(eq + 1), attributes: parts.slice(1).filter((p) => p.length > 0) }
  })
}

export function hasAttribute(c: SetCookie, name: string): boolean {
  const lower = name.toLowerCase()
  return c.attributes.some((a) => a.toLowerCase() === lower || a.toLowerCase().startsWith(`${lower}=`))
}

export function attributeValue(c: SetCookie, name: string): string | undefined {
  const lower = name.toLowerCase()
  const a = c.attributes.find((x) => x.toLowerCase().startsWith(`${lower}=`))
  return a === undefined ? undefined : a.slice(a.indexOf('=') + 1)
}

/** `name=value` pairs of a Cookie request header, in order. */
export function cookiePairs(cookieHeader: string | undefined): string[] {
  if (cookieHeader === undefined) return []
  return cookieHeader.split(';').map((p) => p.trim()).filter((p) => p.length > 0)
}

/** Asserts that none of `secrets` occurs in `text`; names the secret and shows the line. */
export function assertNoSecrets(text: string, secrets: Readonly<Record<string, string>>, where: string): void {
  for (const [what, secret] of Object.entries(secrets)) {
    if (secret.length === 0) continue
    const i = text.indexOf(secret)
    if (i >= 0) {
      const start = text.lastIndexOf('\n', i) + 1
      const endNl = text.indexOf('\n', i)
      const line = text.slice(start, endNl < 0 ? undefined : endNl)
      assert.fail(`${where} holds the ${what} (${JSON.stringify(secret)}): ${line.slice(0, 400)}`)
    }
  }
}
