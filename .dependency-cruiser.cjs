// Architecture rules for src/ (issue 12), checked by test/architecture.test.ts.
// Layers from top to bottom: a module may import only from its own layer or the layers below it.
/** @type {readonly { name: string, path: string }[]} */
const LAYERS = [
  { name: 'entry', path: '^src/(main\\.ts$|v8-flags\\.ts$|heap-reclaim\\.ts$|cli/)' },
  { name: 'composition', path: '^src/(gateway\\.ts$|cluster/|demo/)' },
  { name: 'listener', path: '^src/listener/' },
  { name: 'routes', path: '^src/routes/' },
  { name: 'admission', path: '^src/admission/' },
  { name: 'wake', path: '^src/wake/' },
  { name: 'forward', path: '^src/forward/' },
  { name: 'auth', path: '^src/auth/' },
  { name: 'fleet', path: '^src/fleet/' },
  { name: 'resolve', path: '^src/resolve/' },
  { name: 'control-plane', path: '^src/control-plane/' },
  { name: 'foundation', path: '^src/(config/|metrics/|routing/|errors/|log\\.ts$)' },
]

/** One rule per layer: nothing in it imports a layer above it. */
const layerRules = LAYERS.slice(1).map((layer, i) => ({
  name: `layer-${layer.name}`,
  severity: 'error',
  comment: `${layer.name} may import only ${LAYERS.slice(i + 1).map((l) => l.name).join(', ')}`,
  from: { path: layer.path },
  to: { path: LAYERS.slice(0, i + 1).map((l) => l.path) },
}))

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'no import cycle in src/, type-only imports included',
      from: { path: '^src/' },
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'in-a-layer',
      severity: 'error',
      comment: 'every file under src/ belongs to a layer above (add a new room to LAYERS)',
      from: { path: '^src/', pathNot: LAYERS.map((l) => l.path) },
      to: {},
    },
    {
      name: 'imports-in-a-layer',
      severity: 'error',
      comment: 'every file under src/ belongs to a layer above (add a new room to LAYERS)',
      from: {},
      to: { path: '^src/', pathNot: LAYERS.map((l) => l.path) },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    // Type-only imports are dependencies too (a cycle through `import type` is still a cycle).
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
}
