import type { IncomingMessage, ServerResponse } from 'node:http'
import { WARNING_COOKIE, serializeCookie } from '../auth/cookies.js'
import { ACCEPT_PATH } from '../admission/warning-page.js'
import { discardBody, sendError } from '../errors/respond.js'
import type { PreviewTarget } from '../routing/host-route.js'
import { resolveLikeBrowser, sameOriginLocation } from '../routing/redirect.js'

const ACCEPT_MAX_AGE_SEC = 86_400

export interface WarningAcceptOptions {
  readonly protocol: 'http' | 'https'
  readonly cookieDomain: string | undefined
}

/**
 * SPEC §6 `POST /accept-daytona-preview-warning?redirect=…` on the preview host: a cross-site form
 * must not skip the page, so `Origin` must be this host (or `Sec-Fetch-Site: same-origin`); the
 * accept cookie is set and the redirect stays on this host.
 */
export class WarningAccept {
  readonly #o: WarningAcceptOptions

  constructor(o: WarningAcceptOptions) {
    this.#o = o
  }

  readonly answer = (req: IncomingMessage, res: ServerResponse, p: PreviewTarget): void => {
    // Browsers may send `Origin: null` under some referrer policies; a cross-site form says cross-site there.
    const origin = req.headers.origin
    const sameOrigin = (origin !== undefined && origin.toLowerCase() === `${this.#o.protocol}://${p.host.toLowerCase()}`) ||
      req.headers['sec-fetch-site'] === 'same-origin'
    if (!sameOrigin) return sendError(req, res, 'FORBIDDEN')
    // Built, never echoed: resolved as the browser will, kept only on this very origin.
    const here = resolveLikeBrowser(`${this.#o.protocol}://${p.host}${ACCEPT_PATH}`, 'http://invalid.invalid/')
    if (here === null) return sendError(req, res, 'BAD_REQUEST')
    const location = sameOriginLocation(new URLSearchParams(p.target.query).get('redirect'), here)
    res.writeHead(303, {
      Location: location,
      'Set-Cookie': serializeCookie(WARNING_COOKIE, 'true', {
        secure: this.#o.protocol === 'https',
        maxAgeSec: ACCEPT_MAX_AGE_SEC,
        ...(this.#o.cookieDomain === undefined ? {} : { domain: this.#o.cookieDomain }),
      }),
      'Cache-Control': 'no-store',
      'Content-Length': 0,
    })
    res.end()
    discardBody(req)
  }
}
