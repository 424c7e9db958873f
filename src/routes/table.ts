// Routes owns every endpoint of the gateway itself: the base-domain table below (probes, login,
// webhooks, build logs, toolbox) and the two answers a preview host gives before admission.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { ACCEPT_PATH } from '../admission/warning-page.js'
import { LOGIN_TICKET_PARAM } from '../auth/oidc.js'
import type { GatewayErrorCode } from '../errors/codes.js'
import type { RouteKind } from '../metrics/metrics.js'
import type { BaseTarget, HostRefusal, PreviewTarget } from '../routing/host-route.js'
import type { RequestTarget } from '../routing/request-target.js'
import { BUILD_LOGS_PATH, BuildLogs, type BuildLogsOptions } from './build-logs.js'
import { LoginRoutes } from './login.js'
import { healthProbe, readinessProbe } from './probes.js'
import { TicketRedemption, type TicketOptions } from './ticket.js'
import { TOOLBOX_PREFIX, toolboxTarget } from './toolbox.js'
import { WarningAccept, type WarningAcceptOptions } from './warning-accept.js'
import { WEBHOOK_PATH, type WebhookRoute } from './webhooks.js'

/** Answers the request here (HTTP requests only: an upgrade to such a row is refused). */
export type Answer<T> = (req: IncomingMessage, res: ServerResponse, at: T, params: readonly string[]) => void | Promise<void>
/** Turns the request into a preview target for admission (requests and upgrades alike). */
export type Admit<T> = (at: T) => PreviewTarget | HostRefusal

export interface RowMatch {
  /** Method names, or '*' for any. */
  readonly methods: readonly string[] | '*'
  /** An exact path, a prefix (ends in `/`), a pattern (its groups are the params), or any path. */
  readonly path: string | RegExp | undefined
  /** Matches only when this query parameter is present. */
  readonly query?: string
  /** The access log's and metrics' name for the route. */
  readonly kind: RouteKind
  /** What an upgrade to a row that answers is told (default NOT_FOUND: nothing to upgrade to). */
  readonly upgradeRefusal?: GatewayErrorCode
}

export type RouteRow<T> = RowMatch & ({ readonly answer: Answer<T>; readonly admit?: never } | { readonly admit: Admit<T>; readonly answer?: never })

export interface RouteTable {
  /** On a base domain: what no row matches is 404. */
  readonly base: readonly RouteRow<BaseTarget>[]
  /** On a preview host: what no row matches is a preview, admitted and forwarded. */
  readonly preview: readonly RouteRow<PreviewTarget>[]
}

export interface RouteMatch<T> {
  readonly row: RouteRow<T>
  readonly params: readonly string[]
}

const NO_PARAMS: readonly string[] = Object.freeze([])
export const GET_HEAD: readonly string[] = Object.freeze(['GET', 'HEAD'])

/** The first row for this method and target. Allocates only when a row matches, so a preview passes its host's rows for free. */
export function matchRoute<T>(rows: readonly RouteRow<T>[], method: string | undefined, t: RequestTarget): RouteMatch<T> | null {
  for (const row of rows) {
    if (row.methods !== '*' && (method === undefined || !row.methods.includes(method))) continue
    if (row.query !== undefined && !(t.hasQuery && t.query.includes(row.query))) continue
    const p = row.path
    if (p === undefined) return { row, params: NO_PARAMS }
    if (typeof p === 'string') {
      if (p.endsWith('/') ? t.path.startsWith(p) : t.path === p) return { row, params: NO_PARAMS }
      continue
    }
    const m = p.exec(t.path)
    if (m !== null) return { row, params: m.slice(1) }
  }
  return null
}

export interface RouteDeps extends BuildLogsOptions, TicketOptions, WarningAcceptOptions {
  readonly version: string
  readonly isReady: () => boolean
  /** SPEC §6: the warning page is on, so its accept route is. */
  readonly previewWarning: boolean
  /** SPEC §9: null when no WEBHOOK_SECRET is set (then the path is 404 like any other). */
  readonly webhooks: WebhookRoute | null
}

/** The gateway's own endpoints, in the order they are tried. */
export function routeTable(d: RouteDeps): RouteTable {
  const login = new LoginRoutes(d.oidc)
  const base: RouteRow<BaseTarget>[] = [
    { methods: GET_HEAD, path: '/health', kind: 'health', answer: healthProbe(d.version) },
    { methods: GET_HEAD, path: '/ready', kind: 'health', answer: readinessProbe(d.isReady) },
    { methods: ['GET'], path: '/login', kind: 'login', answer: login.start },
    { methods: ['GET'], path: '/callback', kind: 'login', answer: login.callback },
    { methods: ['GET'], path: BUILD_LOGS_PATH, kind: 'build_logs', answer: new BuildLogs(d).answer },
    { methods: '*', path: TOOLBOX_PREFIX, kind: 'toolbox', admit: toolboxTarget },
  ]
  if (d.webhooks !== null) base.push({ methods: '*', path: WEBHOOK_PATH, kind: 'base', answer: d.webhooks.handle })
  const preview: RouteRow<PreviewTarget>[] = [
    // SPEC §4: the app never sees a ticket, and only a navigation can redeem one.
    { methods: '*', path: undefined, query: LOGIN_TICKET_PARAM, kind: 'login', answer: new TicketRedemption(d).answer, upgradeRefusal: 'LOGIN_FAILED' },
  ]
  if (d.previewWarning) preview.unshift({ methods: ['POST'], path: ACCEPT_PATH, kind: 'preview', answer: new WarningAccept(d).answer })
  return { base, preview }
}
