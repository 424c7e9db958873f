/**
 * The kustomize file formats used under deploy/kubernetes, as TypeScript types (kubernetes-models has
 * none: they are not API objects). manifests.test.ts type-checks every kustomization.yaml against
 * them with excess-property checks, so a misspelled field (`resouces:`) fails like it does in
 * kustomize. Only the fields of kustomize v5 that a deployment like this one would use are listed;
 * add one here before using it.
 */

export interface KustomizeImage {
  name: string
  newName?: string
  newTag?: string
  digest?: string
}

export interface KustomizeSelector {
  group?: string
  version?: string
  kind?: string
  name?: string
  namespace?: string
  labelSelector?: string
  annotationSelector?: string
}

export interface KustomizePatch {
  path?: string
  patch?: string
  target?: KustomizeSelector
  options?: { allowNameChange?: boolean; allowKindChange?: boolean }
}

export interface KustomizeLabels {
  pairs: Record<string, string>
  includeSelectors?: boolean
  includeTemplates?: boolean
  fields?: Array<{ path: string; kind?: string; group?: string; version?: string; create?: boolean }>
}

export interface KustomizeGenerator {
  name: string
  namespace?: string
  behavior?: 'create' | 'replace' | 'merge'
  files?: string[]
  literals?: string[]
  envs?: string[]
  type?: string
  options?: {
    labels?: Record<string, string>
    annotations?: Record<string, string>
    disableNameSuffixHash?: boolean
    immutable?: boolean
  }
}

export interface KustomizeReplicas {
  name: string
  count: number
}

interface KustomizeFields {
  namespace?: string
  namePrefix?: string
  nameSuffix?: string
  resources?: string[]
  components?: string[]
  images?: KustomizeImage[]
  labels?: KustomizeLabels[]
  commonAnnotations?: Record<string, string>
  patches?: KustomizePatch[]
  configMapGenerator?: KustomizeGenerator[]
  secretGenerator?: KustomizeGenerator[]
  generatorOptions?: KustomizeGenerator['options']
  replicas?: KustomizeReplicas[]
}

/** kustomization.yaml of a base or an overlay. */
export interface Kustomization extends KustomizeFields {
  apiVersion: 'kustomize.config.k8s.io/v1beta1'
  kind: 'Kustomization'
}

/** kustomization.yaml of an optional component (`components:` of an overlay). */
export interface Component extends KustomizeFields {
  apiVersion: 'kustomize.config.k8s.io/v1alpha1'
  kind: 'Component'
}
