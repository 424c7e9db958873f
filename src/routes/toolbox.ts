import { DOT_SEGMENT, NOT_FOUND, TOOLBOX_PORT, type BaseTarget, type HostRefusal, type PreviewTarget } from '../routing/host-route.js'
import { isLabelChars } from '../routing/preview-host.js'
import { hasDotSegment } from '../routing/request-target.js'

export const TOOLBOX_PREFIX = '/toolbox/'

/**
 * SPEC §1 `/toolbox/{id}/{path}` on a base domain: port 2280 of sandbox `{id}`, admitted like a
 * preview (requests and upgrades) but with no public shortcut and no signed-token step.
 */
export function toolboxTarget(at: BaseTarget): PreviewTarget | HostRefusal {
  const rest = at.target.path.slice(TOOLBOX_PREFIX.length)
  const slash = rest.indexOf('/')
  const id = slash === -1 ? rest : rest.slice(0, slash)
  if (!isLabelChars(id)) return NOT_FOUND
  const path = slash === -1 ? '' : rest.slice(slash)
  if (hasDotSegment(path)) return DOT_SEGMENT
  return { kind: 'preview', label: id, port: TOOLBOX_PORT, toolbox: true, path, target: at.target, host: at.host }
}
