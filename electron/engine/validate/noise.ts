/**
 * Label-noise models for the PoC validation, exactly as ../shared/BENCHMARKS.md and the paper
 * (Jeong & Chung, ICLR 2025, Sec. 5 "Experimental setup", following Patrini et al. 2017 for the
 * transition-matrix view) define them. Each training sample of true class k draws its noisy label
 * from row k of a row-stochastic transition matrix C (rate eta):
 *
 *   symmetric:  C[k][k] = 1 - eta, C[k][j] = eta / (K - 1)
 *   asymmetric: C[k][k] = 1 - eta, C[k][j] = eta / K, plus another eta / K on j = (k + 1) mod K
 *   superclass: C[k][k] = 1 - eta, eta shared equally among the other members of k's group; the
 *               groups come from clustering the class-correlation matrix (see superclassGroups).
 */
import type { FeatureMatrix } from '../train/types.ts'
import { createRng } from '../util/rng.ts'

export type NoiseType = 'symmetric' | 'asymmetric' | 'superclass'

/** Row-stochastic K x K matrix: C[true][noisy]. */
export type TransitionMatrix = number[][]

export interface NoiseSpec {
  type: NoiseType
  /** eta in [0, 1]. */
  rate: number
  seed: number
  /** superclass only: the class groups (from superclassGroups); required for that type. */
  groups?: number[][]
}

function checkRate(rate: number): void {
  if (!Number.isFinite(rate) || rate < 0 || rate > 1) throw new Error(`noise rate must be in [0, 1], got ${rate}`)
}

function checkGroups(groups: number[][], k: number): void {
  const seen = new Set<number>()
  for (const g of groups) {
    for (const c of g) {
      if (!Number.isInteger(c) || c < 0 || c >= k) throw new Error(`superclass groups: class ${c} is outside 0..${k - 1}`)
      if (seen.has(c)) throw new Error(`superclass groups: class ${c} appears in two groups`)
      seen.add(c)
    }
  }
}

/**
 * The transition matrix C[true][noisy] of a noise model (formulas in the module comment).
 * For 'superclass', classes missing from `groups` are treated as singletons: they keep their labels.
 */
export function transitionMatrix(type: NoiseType, k: number, rate: number, groups?: number[][]): TransitionMatrix {
  if (!Number.isInteger(k) || k < 1) throw new Error(`number of classes must be a positive integer, got ${k}`)
  checkRate(rate)
  const c: TransitionMatrix = Array.from({ length: k }, () => new Array<number>(k).fill(0))
  if (k === 1) {
    c[0]![0] = 1
    return c
  }
  for (let a = 0; a < k; a++) {
    const row = c[a]!
    if (type === 'symmetric') {
      for (let b = 0; b < k; b++) row[b] = a === b ? 1 - rate : rate / (k - 1)
    } else if (type === 'asymmetric') {
      for (let b = 0; b < k; b++) row[b] = a === b ? 1 - rate : rate / k
      row[(a + 1) % k]! += rate / k
    } else if (type === 'superclass') {
      if (!groups) throw new Error('superclass noise needs class groups (see superclassGroups)')
      checkGroups(groups, k)
      const g = groups.find((gr) => gr.includes(a))
      if (!g || g.length < 2) {
        row[a] = 1
      } else {
        for (const b of g) row[b] = b === a ? 1 - rate : rate / (g.length - 1)
      }
    } else {
      throw new Error(`unknown noise type '${type as string}' (expected symmetric, asymmetric or superclass)`)
    }
  }
  return c
}

/**
 * Draws noisy labels: sample i of class y[i] gets label j with probability C[y[i]][j]. Labels < 0
 * (unlabelled) are kept as they are. Deterministic for a given seed.
 */
export function injectNoise(y: Int32Array, k: number, spec: NoiseSpec): Int32Array {
  const c = transitionMatrix(spec.type, k, spec.rate, spec.groups)
  return injectWithMatrix(y, c, spec.seed)
}

/** Draws noisy labels from an explicit transition matrix C[true][noisy] (rows must sum to 1). */
export function injectWithMatrix(y: Int32Array, c: TransitionMatrix, seed: number): Int32Array {
  const k = c.length
  // Cumulative rows, so each draw is one uniform and a short scan.
  const cum = c.map((row, a) => {
    if (row.length !== k) throw new Error(`transition matrix row ${a} has ${row.length} entries, expected ${k}`)
    let s = 0
    const out = row.map((p) => {
      if (!(p >= 0)) throw new Error(`transition matrix row ${a} has a negative or NaN entry`)
      return (s += p)
    })
    if (Math.abs(s - 1) > 1e-9) throw new Error(`transition matrix row ${a} sums to ${s}, expected 1`)
    return out
  })
  const rng = createRng(seed)
  const out = new Int32Array(y.length)
  for (let i = 0; i < y.length; i++) {
    const t = y[i]!
    if (t < 0) {
      out[i] = t
      continue
    }
    if (t >= k) throw new Error(`label ${t} at sample ${i} is outside 0..${k - 1}`)
    const row = cum[t]!
    const u = rng.next()
    let j = 0
    // u < 1 and row ends at 1 (up to rounding), so stop at the last class at worst.
    while (j < k - 1 && u >= row[j]!) j++
    out[i] = j
  }
  return out
}

/**
 * Class-correlation matrix M of the paper's superclass noise: features centred by the training
 * mean and L2-normalised, M[a][b] = mean cosine similarity between samples of class a and samples
 * of class b. Since the mean of pairwise dot products equals the dot product of the means,
 * M = mu mu^T with mu[a] the mean of class a's normalised features. Classes with no samples get
 * a zero row.
 */
export function classCorrelation(x: FeatureMatrix, y: Int32Array, k: number): number[][] {
  const { n, d, data } = x
  if (y.length !== n) throw new Error(`labels have ${y.length} entries but the feature matrix has ${n} rows`)
  const mean = new Float64Array(d)
  let m = 0
  for (let i = 0; i < n; i++) {
    if (y[i]! < 0) continue
    m++
    const off = i * d
    for (let j = 0; j < d; j++) mean[j]! += data[off + j]!
  }
  if (m === 0) throw new Error('no labelled samples to compute class correlations from')
  for (let j = 0; j < d; j++) mean[j]! /= m
  const sums = Array.from({ length: k }, () => new Float64Array(d))
  const counts = new Float64Array(k)
  const v = new Float64Array(d)
  for (let i = 0; i < n; i++) {
    const c = y[i]!
    if (c < 0) continue
    if (c >= k) throw new Error(`label ${c} at sample ${i} is outside 0..${k - 1}`)
    const off = i * d
    let norm = 0
    for (let j = 0; j < d; j++) {
      const t = data[off + j]! - mean[j]!
      v[j] = t
      norm += t * t
    }
    norm = Math.sqrt(norm)
    if (norm === 0) continue // a sample exactly at the mean has no direction; cosine undefined
    const s = sums[c]!
    for (let j = 0; j < d; j++) s[j]! += v[j]! / norm
    counts[c]!++
  }
  for (let c = 0; c < k; c++) {
    const s = sums[c]!
    if (counts[c]! > 0) for (let j = 0; j < d; j++) s[j]! /= counts[c]!
  }
  const out: number[][] = Array.from({ length: k }, () => new Array<number>(k).fill(0))
  for (let a = 0; a < k; a++) {
    for (let b = a; b < k; b++) {
      let dot = 0
      const sa = sums[a]!
      const sb = sums[b]!
      for (let j = 0; j < d; j++) dot += sa[j]! * sb[j]!
      out[a]![b] = dot
      out[b]![a] = dot
    }
  }
  return out
}

export interface Merge {
  /** Members of the two clusters joined. */
  left: number[]
  right: number[]
  /** Complete-linkage distance at which they were joined. */
  height: number
}

/**
 * Agglomerative clustering with complete linkage (the distance between clusters is the largest
 * Euclidean distance between their members), as scipy.cluster.hierarchy.linkage(method='complete')
 * computes it. O(m^3) for m points: meant for class counts, not samples. Ties go to the pair with
 * the smallest indices, so the result is deterministic.
 */
export function completeLinkage(points: number[][]): Merge[] {
  const dist = (a: number[], b: number[]) => {
    let s = 0
    for (let j = 0; j < a.length; j++) s += (a[j]! - b[j]!) ** 2
    return Math.sqrt(s)
  }
  const pd = points.map((a) => points.map((b) => dist(a, b)))
  let clusters: number[][] = points.map((_, i) => [i])
  const merges: Merge[] = []
  while (clusters.length > 1) {
    let best = Infinity
    let bi = 0
    let bj = 1
    for (let i = 0; i < clusters.length; i++) {
      for (let j = i + 1; j < clusters.length; j++) {
        let h = 0
        for (const a of clusters[i]!) for (const b of clusters[j]!) h = Math.max(h, pd[a]![b]!)
        if (h < best) {
          best = h
          bi = i
          bj = j
        }
      }
    }
    const left = clusters[bi]!
    const right = clusters[bj]!
    merges.push({ left: [...left], right: [...right], height: best })
    clusters = clusters.filter((_, i) => i !== bi && i !== bj)
    clusters.push([...left, ...right].sort((a, b) => a - b))
  }
  return merges
}

export interface SuperclassClustering {
  groups: number[][]
  /** The class-correlation matrix M. */
  correlation: number[][]
  merges: Merge[]
  /** Merges at or below this height were kept (0.8 of the largest merge height). */
  cut: number
}

/**
 * The superclass grouping with its intermediate steps: M from classCorrelation, complete linkage
 * over the rows of 1 - M taken as vectors (Euclidean), cut at 0.8 of the largest merge height
 * (scipy's fcluster(Z, 0.8 * Z[:, 2].max(), 'distance')). Classes without samples stay singletons.
 */
export function superclassClustering(x: FeatureMatrix, y: Int32Array, k: number): SuperclassClustering {
  const correlation = classCorrelation(x, y, k)
  const present = new Array<boolean>(k).fill(false)
  for (const c of y) if (c >= 0 && c < k) present[c] = true
  const idx = [...Array(k).keys()].filter((c) => present[c])
  const points = idx.map((a) => idx.map((b) => 1 - correlation[a]![b]!))
  const merges = completeLinkage(points).map((mg) => ({
    left: mg.left.map((i) => idx[i]!),
    right: mg.right.map((i) => idx[i]!),
    height: mg.height,
  }))
  const maxH = merges.reduce((h, mg) => Math.max(h, mg.height), 0)
  const cut = 0.8 * maxH
  // Union the classes of every merge at or below the cut (complete linkage heights are monotone,
  // so this is the same as cutting the dendrogram).
  const parent = [...Array(k).keys()]
  const find = (a: number): number => (parent[a] === a ? a : (parent[a] = find(parent[a]!)))
  for (const mg of merges) {
    if (mg.height > cut) continue
    const r = find(mg.left[0]!)
    for (const c of [...mg.left, ...mg.right]) parent[find(c)] = r
  }
  const byRoot = new Map<number, number[]>()
  for (let c = 0; c < k; c++) {
    const r = find(c)
    const g = byRoot.get(r) ?? []
    g.push(c)
    byRoot.set(r, g)
  }
  const groups = [...byRoot.values()].sort((a, b) => a[0]! - b[0]!)
  return { groups, correlation, merges, cut }
}

/**
 * Groups of confusable classes for superclass noise (see superclassClustering). Each group is
 * sorted; groups are ordered by their smallest class.
 */
export function superclassGroups(x: FeatureMatrix, y: Int32Array, k: number): number[][] {
  return superclassClustering(x, y, k).groups
}

export interface ClassIdentifiability {
  /** True class. */
  k: number
  /** C[k][k]: probability the label stays right. */
  keep: number
  /** The most likely wrong label and its probability. */
  worst: number
  worstProb: number
  identifiable: boolean
}

/**
 * Per class, whether the true class stays more likely than any single wrong class,
 * C[k][k] > max_{j != k} C[k][j]: the condition under which label averaging (SD, PLL) can recover
 * the true label (paper, Sec. 4; ../shared/DESIGN.md). Where it fails, the majority of a class's
 * samples carry one particular wrong label and no method working from these labels can undo it.
 */
export function classIdentifiability(c: TransitionMatrix): ClassIdentifiability[] {
  return c.map((row, k) => {
    let worst = -1
    let worstProb = -Infinity
    for (let j = 0; j < row.length; j++) {
      if (j !== k && row[j]! > worstProb) {
        worstProb = row[j]!
        worst = j
      }
    }
    const keep = row[k]!
    if (worst < 0) return { k, keep, worst: k, worstProb: 0, identifiable: true }
    // A tiny tolerance so that an exact tie (symmetric 0.9 with K = 10: 0.1 vs 0.1) counts as a
    // tie, not a win, whatever the rounding.
    return { k, keep, worst, worstProb, identifiable: keep > worstProb + 1e-12 }
  })
}

/** True when every class keeps C[k][k] > max_{j != k} C[k][j] (see classIdentifiability). */
export function isIdentifiable(c: TransitionMatrix): boolean {
  return classIdentifiability(c).every((r) => r.identifiable)
}
