import type { Runner } from '../control-plane/types.js'
import { isGatewayError } from '../errors/codes.js'
import type { Waiter } from '../resolve/cache.js'
import type { Resolver } from '../resolve/resolver.js'
import { refused, type Refused } from './decision.js'

const RUNNER_LOOKUP_FAILED = refused('CONTROL_PLANE_UNAVAILABLE')

/** The runner of a sandbox (null: none holds it), or the refusal when the platform can't say. */
export async function runnerOf(resolver: Resolver, sandboxId: string, waiter: Waiter): Promise<Runner | null | Refused> {
  const cached = resolver.runners.peek(sandboxId)
  if (cached !== undefined) return cached
  try {
    return await resolver.runner(sandboxId, waiter)
  } catch (err) {
    if (isGatewayError(err)) return RUNNER_LOOKUP_FAILED
    throw err
  }
}
