import type { ControlPlane } from '../../src/control-plane/types.js'

/**
 * An in-process stand-in for the Daytona platform, for unit tests below the HTTP client: every
 * method answers at once ("not public", token `good`, one runner…), `overrides` replace any, and
 * the lookups the request path makes are recorded in `calls`.
 */
export function stubControlPlane(overrides: Partial<ControlPlane> = {}): ControlPlane & { calls: string[] } {
  const calls: string[] = []
  return {
    kind: 'daytona',
    calls,
    isPublic: async (id) => { calls.push(`public ${id}`); return false },
    validatePreviewToken: async (id, t) => { calls.push(`validate ${id}`); return t === 'good' },
    hasAccess: async () => false,
    sandboxIdFromSignedToken: async () => null,
    runnerBySandbox: async (id) => { calls.push(`runner ${id}`); return { proxyUrl: 'http://r', apiKey: 'k' } },
    postLastActivity: async () => undefined,
    oidcSettings: async () => null,
    buildLogSource: async () => null,
    signingKey: async () => null,
    sandboxForUser: async () => 'refused',
    sandboxState: async () => 'started',
    startSandbox: async () => true,
    previewWarning: async () => true,
    close: async () => undefined,
    ...overrides,
  }
}
