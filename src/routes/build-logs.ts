import type { IncomingMessage, ServerResponse } from 'node:http'
import { bearerOf } from '../admission/credentials.js'
import type { BuildLogSource, ControlPlane } from '../control-plane/types.js'
import { isGatewayError } from '../errors/codes.js'
import { buildUpstreamHeaders } from '../forward/headers.js'
import type { HttpForwarder } from '../forward/http.js'
import type { TrustedProxies } from '../forward/trusted-proxies.js'
import { sendError } from '../errors/respond.js'
import type { BaseTarget } from '../routing/host-route.js'
import { isLabelChars } from '../routing/preview-host.js'
import { removeQueryParam } from '../routing/request-target.js'
import { AnswerCache, type CacheResult } from '../resolve/cache.js'
import { hashToken, TTL } from '../resolve/resolver.js'

/** `/sandboxes/{id}/build-logs` and `/snapshots/{id}/build-logs`: the groups are kind and id. */
export const BUILD_LOGS_PATH = /^\/(sandboxes|snapshots)\/([^/]+)\/build-logs$/

export interface BuildLogsOptions {
  readonly controlPlane: ControlPlane
  readonly http: HttpForwarder
  readonly trusted: TrustedProxies
  readonly protocol: 'http' | 'https'
  readonly cacheMaxEntries: number
  readonly onLookup?: (cache: string, result: CacheResult) => void
}

function dropRunner(): void {}

/**
 * SPEC §1 build logs on a base domain: the bearer's own API says where the snapshot's logs are,
 * and the stream is forwarded from there (the bearer replaced by that source's key).
 */
export class BuildLogs {
  readonly #o: BuildLogsOptions
  /** Per kind, id and bearer digest; concurrent misses make one call, cancelled when every client left (SPEC §2, §5). */
  readonly #sources: AnswerCache<BuildLogSource | null>

  constructor(o: BuildLogsOptions) {
    this.#o = o
    this.#sources = new AnswerCache<BuildLogSource | null>({
      name: 'build_log_source',
      max: o.cacheMaxEntries,
      // SPEC §5, as for any bearer's answer: found 2 min, refused 5 s.
      ttlMs: (v) => (v === null ? TTL.authInvalid : TTL.authValid),
      ...(o.onLookup ? { onLookup: o.onLookup } : {}),
    })
  }

  readonly answer = async (req: IncomingMessage, res: ServerResponse, at: BaseTarget, params: readonly string[]): Promise<void> => {
    const kind = params[0] === 'sandboxes' ? 'sandbox' : 'snapshot'
    const id = params[1] as string
    if (!isLabelChars(id) && kind === 'sandbox') return sendError(req, res, 'NOT_FOUND')
    const bearer = bearerOf(req)
    if (bearer === undefined) return sendError(req, res, 'UNAUTHORIZED')
    let src
    try {
      src = await this.#sources.get(`${kind}\0${id}\0${hashToken(bearer)}`, (signal) => this.#o.controlPlane.buildLogSource(kind, id, bearer, signal), res)
    } catch (err) {
      if (res.destroyed) return
      if (isGatewayError(err)) return sendError(req, res, 'CONTROL_PLANE_UNAVAILABLE')
      throw err
    }
    if (res.destroyed) return
    if (src === null) return sendError(req, res, 'UNAUTHORIZED')
    const u = new URL(src.apiUrl)
    const query = at.target.query
    const path = `${u.pathname.replace(/\/+$/, '')}/snapshots/logs?snapshotRef=${encodeURIComponent(src.snapshotRef)}${query === '' ? '' : '&' + removeQueryParam(query, 'snapshotRef')}`
    const peer = req.socket.remoteAddress
    const headers = buildUpstreamHeaders(req.rawHeaders, {
      dropAuthorization: true, upgrade: false, runnerKey: src.apiKey,
      forwardedHost: at.host, forwardedProto: this.#o.protocol, remoteAddress: peer ?? '',
      trustForwarded: this.#o.trusted.isTrusted(peer),
    })
    this.#o.http.forward(req, res, { origin: u.origin, path }, headers, {
      sandboxId: id,
      response: { cors: null, setCookie: undefined, locationPrefix: undefined },
      onRunnerRefused: dropRunner,
    })
  }
}
