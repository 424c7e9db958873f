import type { IncomingMessage, ServerResponse } from 'node:http'
import type { OidcLogin } from '../auth/oidc.js'
import { sendError, sendRedirect } from '../errors/respond.js'
import type { BaseTarget } from '../routing/host-route.js'

/** SPEC §4 on a base domain: `GET /login` starts the OIDC round trip, `GET /callback` ends it. */
export class LoginRoutes {
  readonly #oidc: OidcLogin

  constructor(oidc: OidcLogin) {
    this.#oidc = oidc
  }

  readonly start = async (req: IncomingMessage, res: ServerResponse, at: BaseTarget): Promise<void> => {
    const out = await this.#oidc.login(at.target.query, at.baseDomain)
    if ('error' in out) return sendError(req, res, out.error === 502 ? 'CONTROL_PLANE_UNAVAILABLE' : 'LOGIN_FAILED')
    return sendRedirect(res, 302, out.location, { 'Set-Cookie': out.cookie })
  }

  readonly callback = async (req: IncomingMessage, res: ServerResponse, at: BaseTarget): Promise<void> => {
    const out = await this.#oidc.callback(req, req.url ?? '/', at.baseDomain)
    if (!out.ok) {
      // A failed callback is an error page: no session, no redirect, never a login loop.
      res.setHeader('Set-Cookie', out.clearCookie)
      const code = out.status === 403 ? 'FORBIDDEN' : out.status === 502 ? 'CONTROL_PLANE_UNAVAILABLE' : 'LOGIN_FAILED'
      return sendError(req, res, code, { status: out.status })
    }
    return sendRedirect(res, 302, out.location, { 'Set-Cookie': out.clearCookie })
  }
}
