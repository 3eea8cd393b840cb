/**
 * Feature-space views for the UI: k nearest neighbours by cosine similarity, and a 2-D PCA
 * projection for the embedding map. Both work on one backbone's stored features, L2-normalised
 * once and cached in memory until the number of stored features changes.
 */
import type { Db } from '../engine/store/db.ts'
import { featureCount } from '../engine/store/read-model.ts'
import { loadFeatureMatrix } from '../engine/extract/features.ts'

/** A backbone's features, row i for sample `ids[i]`, each row scaled to unit length. */
export interface NormalisedFeatures {
  backboneId: number
  ids: Int32Array
  index: Map<number, number>
  n: number
  d: number
  /** Row-major n x d, rows L2-normalised (a zero row stays zero). */
  unit: Float32Array
  /** Row-major n x d, as stored (for PCA). */
  raw: Float32Array
}

/** Caches normalised feature matrices per (project file, backbone). */
export class FeatureCache {
  private cache = new Map<number, { count: number; f: NormalisedFeatures }>()
  private projections = new Map<string, { f: NormalisedFeatures; p: ReturnType<typeof pca2> }>()

  /** Forgets everything (on project change). */
  clear(): void {
    this.cache.clear()
    this.projections.clear()
  }

  /** The 2-D PCA of a backbone's features, computed once per feature set (seconds on 5000 x 2000). */
  pca(db: Db, backboneId: number, maxPoints: number): ReturnType<typeof pca2> {
    const f = this.get(db, backboneId)
    const key = `${backboneId}:${maxPoints}`
    const hit = this.projections.get(key)
    if (hit && hit.f === f) return hit.p
    const p = pca2(f, maxPoints)
    this.projections.set(key, { f, p })
    return p
  }

  /** The backbone's features, reloaded when their count changed since the last load. */
  get(db: Db, backboneId: number): NormalisedFeatures {
    const count = featureCount(db, backboneId)
    const hit = this.cache.get(backboneId)
    if (hit && hit.count === count) return hit.f
    const m = loadFeatureMatrix(db, backboneId)
    const { n, d, data } = m.x
    const unit = new Float32Array(n * d)
    for (let i = 0; i < n; i++) {
      let s = 0
      for (let j = 0; j < d; j++) s += data[i * d + j]! * data[i * d + j]!
      const inv = s > 0 ? 1 / Math.sqrt(s) : 0
      for (let j = 0; j < d; j++) unit[i * d + j] = data[i * d + j]! * inv
    }
    const index = new Map<number, number>()
    for (let i = 0; i < n; i++) index.set(m.sampleIds[i]!, i)
    const f: NormalisedFeatures = { backboneId, ids: m.sampleIds, index, n, d, unit, raw: data }
    this.cache.set(backboneId, { count, f })
    return f
  }
}

/**
 * The k samples most similar to `sampleId` by cosine similarity, cos(a, b) = a.b / (|a| |b|),
 * excluding the sample itself. Brute force: n dot products of length d, fine for a PoC's
 * hundred thousand samples.
 */
export function nearestNeighbours(f: NormalisedFeatures, sampleId: number, k: number): { id: number; similarity: number }[] {
  const i = f.index.get(sampleId)
  if (i === undefined || k <= 0) return []
  const { n, d, unit } = f
  const q = unit.subarray(i * d, (i + 1) * d)
  // Keep the best k in a small sorted array (k is at most 50).
  const best: { id: number; similarity: number }[] = []
  for (let r = 0; r < n; r++) {
    if (r === i) continue
    let s = 0
    const off = r * d
    for (let j = 0; j < d; j++) s += q[j]! * unit[off + j]!
    if (best.length < k || s > best[best.length - 1]!.similarity) {
      const item = { id: f.ids[r]!, similarity: s }
      let pos = best.length
      while (pos > 0 && best[pos - 1]!.similarity < s) pos--
      best.splice(pos, 0, item)
      if (best.length > k) best.pop()
    }
  }
  return best
}

/**
 * Principal component analysis to 2-D: centre the rows, then the top two eigenvectors of the
 * covariance C = Xc^T Xc / (m - 1) by power iteration with deflation (Golub & Van Loan, Matrix
 * Computations, sec. 8.2), never forming C (each step is v <- Xc^T (Xc v)). Uses at most
 * `maxPoints` rows, taken at an even stride so the picture is deterministic.
 *
 * Returns the projected points and each component's share of the total variance.
 */
export function pca2(f: NormalisedFeatures, maxPoints: number): { ids: number[]; xy: Float64Array; explained: number[] } {
  const { n, d, raw } = f
  const step = n > maxPoints ? n / maxPoints : 1
  const rows: number[] = []
  for (let t = 0; rows.length < Math.min(n, maxPoints); t += step) rows.push(Math.floor(t))
  const m = rows.length
  const xy = new Float64Array(m * 2)
  if (m === 0 || d === 0) return { ids: [], xy, explained: [] }
  const mean = new Float64Array(d)
  for (const r of rows) for (let j = 0; j < d; j++) mean[j]! += raw[r * d + j]!
  for (let j = 0; j < d; j++) mean[j]! /= m
  const xc = new Float64Array(m * d)
  let totalVar = 0
  for (let a = 0; a < m; a++) {
    const r = rows[a]!
    for (let j = 0; j < d; j++) {
      const v = raw[r * d + j]! - mean[j]!
      xc[a * d + j] = v
      totalVar += v * v
    }
  }
  const comps: Float64Array[] = []
  const eig: number[] = []
  const xv = new Float64Array(m)
  for (let c = 0; c < 2; c++) {
    // Deterministic start vector, not orthogonal to typical data.
    let v = new Float64Array(d).map((_, j) => 1 + ((j * 7919) % 13) / 13)
    let lambda = 0
    for (let it = 0; it < 100; it++) {
      if (deflateAndNormalise(v, comps) === 0) break
      for (let a = 0; a < m; a++) {
        let s = 0
        for (let j = 0; j < d; j++) s += xc[a * d + j]! * v[j]!
        xv[a] = s
      }
      const w = new Float64Array(d)
      for (let a = 0; a < m; a++) {
        const s = xv[a]!
        if (s !== 0) for (let j = 0; j < d; j++) w[j]! += xc[a * d + j]! * s
      }
      let newLambda = 0
      for (let j = 0; j < d; j++) newLambda += w[j]! * v[j]!
      const converged = Math.abs(newLambda - lambda) <= 1e-9 * Math.max(1, Math.abs(newLambda))
      lambda = newLambda
      v = w
      if (converged) break
    }
    deflateAndNormalise(v, comps)
    comps.push(v)
    eig.push(Math.max(0, lambda))
  }
  for (let a = 0; a < m; a++) {
    for (let c = 0; c < comps.length; c++) {
      const u = comps[c]!
      let s = 0
      for (let j = 0; j < d; j++) s += xc[a * d + j]! * u[j]!
      xy[a * 2 + c] = s
    }
  }
  return { ids: rows.map((r) => f.ids[r]!), xy, explained: eig.map((e) => (totalVar > 0 ? e / totalVar : 0)) }
}

/**
 * Deflation step of the power iteration (Golub & Van Loan, sec. 8.2): removes from v, in place,
 * its projection on each unit vector of `comps` (the components found so far: Gram-Schmidt,
 * v <- v - (u.v) u), then scales v to unit length unless it vanished. Returns |v| before scaling.
 */
function deflateAndNormalise(v: Float64Array, comps: readonly Float64Array[]): number {
  const d = v.length
  for (const u of comps) {
    let dot = 0
    for (let j = 0; j < d; j++) dot += u[j]! * v[j]!
    for (let j = 0; j < d; j++) v[j]! -= dot * u[j]!
  }
  let norm = 0
  for (let j = 0; j < d; j++) norm += v[j]! * v[j]!
  norm = Math.sqrt(norm)
  if (norm > 0) for (let j = 0; j < d; j++) v[j]! /= norm
  return norm
}
