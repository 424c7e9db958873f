import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

/**
 * Per-request counters and histograms that count in plain numbers and hand the totals to
 * prom-client when it is scraped (its collect() hook). prom-client's own inc()/observe() sort,
 * hash and validate the labels and allocate on every call: about 1 µs each, several per request,
 * 5-10% of the proxy's CPU under load (bench/RESULTS.md). The exposition is unchanged.
 * Label values must come from bounded sets (route kinds, methods, status codes, cache names).
 */

type LabelValues<L extends string> = Partial<Record<L, string | number>>

interface MetricConfig<L extends string> {
  readonly name: string
  readonly help: string
  readonly labelNames?: readonly L[]
  readonly registers: Registry[]
}

/**
 * Pending entries in nested Maps, one level per label name: a lookup hashes the (mostly constant,
 * already hashed) label strings and builds no key string.
 */
class LabelTree<L extends string, E> {
  readonly #names: readonly L[]
  readonly #root = new Map<string, unknown>()
  readonly #make: (labels: LabelValues<L>) => E
  readonly entries: E[] = []
  readonly #lastValues: (string | number | undefined)[] = []
  #lastEntry: E | undefined

  constructor(names: readonly L[], make: (labels: LabelValues<L>) => E) {
    this.#names = names
    this.#make = make
  }

  get(labels: LabelValues<L>): E {
    const names = this.#names
    // Under load most calls repeat the last label set (same kind, method, status): no Map walk.
    const last = this.#lastValues
    if (this.#lastEntry !== undefined) {
      let i = 0
      while (i < names.length && labels[names[i] as L] === last[i]) i++
      if (i === names.length) return this.#lastEntry
    }
    const e = this.#lookup(labels)
    for (let i = 0; i < names.length; i++) last[i] = labels[names[i] as L]
    this.#lastEntry = e
    return e
  }

  #lookup(labels: LabelValues<L>): E {
    const names = this.#names
    let node = this.#root
    const last = names.length - 1
    for (let i = 0; i < last; i++) {
      const v = String(labels[names[i] as L])
      let next = node.get(v) as Map<string, unknown> | undefined
      if (next === undefined) { next = new Map(); node.set(v, next) }
      node = next
    }
    const leaf = last < 0 ? '' : String(labels[names[last] as L])
    let e = node.get(leaf) as E | undefined
    if (e === undefined) {
      e = this.#make(labels)
      node.set(leaf, e)
      this.entries.push(e)
    }
    return e
  }
}

interface CountEntry<L extends string> {
  readonly labels: LabelValues<L>
  n: number
  /** Already handed to prom-client (a series exists, even at 0). */
  shown: boolean
}

export class TalliedCounter<L extends string = never> {
  readonly #counter: Counter<L>
  readonly #pending: LabelTree<L, CountEntry<L>>

  readonly #siblings: { readonly label: L; readonly values: readonly string[] } | undefined

  /**
   * `siblings`: when a label set first appears, its siblings over this label's bounded values are
   * exposed too, at 0 (Prometheus practice: a series exists before its first event, so the set of
   * series does not grow with traffic).
   */
  constructor(config: MetricConfig<L> & { readonly siblings?: { readonly label: L; readonly values: readonly string[] } }) {
    const names = config.labelNames ?? []
    this.#siblings = config.siblings
    this.#pending = new LabelTree(names, (labels) => ({ labels: { ...labels }, n: 0, shown: false }))
    const flush = (): void => this.#flush()
    const { siblings: _unused, ...counterConfig } = config
    void _unused
    this.#counter = new Counter<L>({ ...counterConfig, labelNames: names, collect: flush })
  }

  inc(labels?: LabelValues<L>, n = 1): void {
    const tree = this.#pending
    const before = tree.entries.length
    tree.get(labels ?? {}).n += n
    const sib = this.#siblings
    if (sib !== undefined && tree.entries.length !== before && labels !== undefined) {
      for (const v of sib.values) tree.get({ ...labels, [sib.label]: v })
    }
  }

  #flush(): void {
    for (const e of this.#pending.entries) {
      if (e.n === 0 && e.shown) continue
      this.#counter.inc(e.labels, e.n)
      e.n = 0
      e.shown = true
    }
  }
}

interface BucketEntry<L extends string> {
  readonly labels: LabelValues<L>
  /** Per bucket, not cumulative; values above the last bound only count in `count`. */
  readonly counts: number[]
  sum: number
  count: number
}

/** The per-label-set record prom-client 15 keeps in Histogram#hashMap (read by its exposition). */
interface PromHistogramData {
  readonly labels: Record<string, string | number>
  readonly bucketValues: Record<string, number>
  sum: number
  count: number
}

function sameLabels(a: Record<string, string | number>, b: Record<string, string | number | undefined>, names: readonly string[]): boolean {
  for (const n of names) if (String(a[n]) !== String(b[n])) return false
  return true
}

export class TalliedHistogram<L extends string = never> {
  readonly #hist: Histogram<L>
  readonly #names: readonly L[]
  readonly #bounds: readonly number[]
  readonly #name: string
  readonly #pending: LabelTree<L, BucketEntry<L>>

  constructor(config: MetricConfig<L> & { readonly buckets: readonly number[] }) {
    this.#names = config.labelNames ?? []
    this.#bounds = config.buckets
    this.#name = config.name
    this.#pending = new LabelTree(this.#names, (labels) => ({ labels: { ...labels }, counts: new Array<number>(config.buckets.length).fill(0), sum: 0, count: 0 }))
    const flush = (): void => this.#flush()
    this.#hist = new Histogram<L>({ ...config, labelNames: this.#names, buckets: [...config.buckets], collect: flush })
  }

  observe(labels: LabelValues<L>, value: number): void
  observe(value: number): void
  observe(a: LabelValues<L> | number, b?: number): void {
    const labels = typeof a === 'number' ? {} : a
    const value = typeof a === 'number' ? a : (b as number)
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`)
    const e = this.#pending.get(labels)
    const bounds = this.#bounds
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) { (e.counts[i] as number)++; break }
    }
    e.sum += value
    e.count++
  }

  #flush(): void {
    for (const e of this.#pending.entries) {
      if (e.count === 0) continue
      const data = this.#dataOf(e.labels)
      for (let i = 0; i < this.#bounds.length; i++) {
        const c = e.counts[i] as number
        if (c === 0) continue
        const k = String(this.#bounds[i])
        data.bucketValues[k] = (data.bucketValues[k] ?? 0) + c
        e.counts[i] = 0
      }
      data.sum += e.sum
      data.count += e.count
      e.sum = 0
      e.count = 0
    }
  }

  /** prom-client's record for a label set, created with its public zero() when missing. */
  #dataOf(labels: LabelValues<L>): PromHistogramData {
    const internal = this.#hist as unknown as { hashMap?: Record<string, PromHistogramData> }
    const find = (): PromHistogramData | undefined => {
      for (const d of Object.values(internal.hashMap ?? {})) if (sameLabels(d.labels, labels, this.#names)) return d
      return undefined
    }
    let d = find()
    if (d === undefined) {
      this.#hist.zero(labels as Partial<Record<L, string | number>>)
      d = find()
    }
    if (d === undefined || typeof d.bucketValues !== 'object' || typeof d.count !== 'number') {
      throw new Error(`prom-client Histogram internals changed: cannot flush ${this.#name}`)
    }
    return d
  }
}

/**
 * A gauge moved on every request (in flight, open connections): a plain number here, read by
 * prom-client at scrape time. A prom-client Gauge hashes its labels on each inc()/dec().
 */
export class TalliedGauge {
  #n = 0

  constructor(config: MetricConfig<never>) {
    const read = (): number => this.#n
    new Gauge({ ...config, collect() { this.set(read()) } })
  }

  inc(): void {
    this.#n++
  }

  dec(): void {
    this.#n--
  }
}
