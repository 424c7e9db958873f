import type { IncomingMessage, ServerResponse } from 'node:http'
import { LOGIN_TICKET_PARAM, type OidcLogin } from '../auth/oidc.js'
import type { SessionSigner } from '../auth/session.js'
import { sendError, sendRedirect } from '../errors/respond.js'
import type { PreviewTarget } from '../routing/host-route.js'
import { selfLocation } from '../routing/redirect.js'
import { findQueryParam, removeQueryParam } from '../routing/request-target.js'

export interface TicketOptions {
  readonly oidc: OidcLogin
  readonly sessions: SessionSigner
  readonly protocol: 'http' | 'https'
  readonly sessionTtlSec: number
}

/**
 * SPEC §4, the last leg of a login, on the preview host: the one-time ticket becomes this host's
 * own host-only, port-bound session, and the browser goes back to the same URL without it.
 */
export class TicketRedemption {
  readonly #o: TicketOptions

  constructor(o: TicketOptions) {
    this.#o = o
  }

  readonly answer = async (req: IncomingMessage, res: ServerResponse, p: PreviewTarget): Promise<void> => {
    const ticket = findQueryParam(p.target.query, LOGIN_TICKET_PARAM) ?? ''
    const t = await this.#o.oidc.redeemTicket(ticket, p.label, p.port)
    if (t === null) return sendError(req, res, 'LOGIN_FAILED')
    const cookie = await this.#o.sessions.mintCookie({ sid: t.sid, lbl: t.lbl, prt: t.prt }, this.#o.sessionTtlSec)
    const query = removeQueryParam(p.target.query, LOGIN_TICKET_PARAM)
    // A path of this host even when it reads `//elsewhere`.
    const location = selfLocation(`${this.#o.protocol}://${p.host}`, p.path + (query === '' ? '' : `?${query}`))
    if (location === null) return sendError(req, res, 'BAD_REQUEST')
    return sendRedirect(res, 302, location, { 'Set-Cookie': cookie })
  }
}
