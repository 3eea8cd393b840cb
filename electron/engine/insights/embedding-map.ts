/**
 * The Insights map: a 2-D picture of a backbone's feature space in which samples that are
 * neighbours in the features stay neighbours, so a class forms its own island and a wrong label
 * shows as a point inside another class's island.
 *
 * UMAP (McInnes, Healy & Melville, "UMAP: Uniform Manifold Approximation and Projection for
 * Dimension Reduction", arXiv 1802.03426) from the umap-js library, with three choices of ours:
 * - the k nearest neighbours are exact (brute force, cosine distance 1 - a.b on unit rows, the
 *   similarity Review's neighbours use) and handed to umap-js, instead of its approximate
 *   NN-descent with random-projection trees;
 * - every random draw (the subsample, the initial layout, the negative samples) comes from one
 *   seeded generator, so the same features and seed give the same map on every machine;
 * - cost is bounded: at most `maxPoints` samples are shown (a seeded subsample of larger projects;
 *   the rest are left out of the picture), of which at most `fitCap` are laid out by UMAP itself;
 *   the others shown are placed at the similarity-weighted mean of their nearest fitted neighbours
 *   (the idea of UMAP's own `transform` initialisation, without its further optimisation).
 *
 * The work yields to the event loop between blocks, so a service that runs it in-process still
 * answers requests (a cancel among them), and reports progress as phase 'map'.
 */
import { UMAP } from 'umap-js'
import { createRng, mulberry32 } from '../util/rng.ts'
import { CancelledError, noProgress, type Progress } from '../jobs/progress.ts'

/** Features to map: row i (of n, each d long, row-major) belongs to sample `ids[i]`; rows have unit length (a zero row is allowed). */
export interface MapFeatures {
  ids: ArrayLike<number>
  n: number
  d: number
  unit: Float32Array
}

export interface MapOptions {
  /** Seed of every random draw. */
  seed?: number
  /** At most this many samples in the picture (a seeded subsample of the rest is left out). */
  maxPoints?: number
  /** At most this many samples laid out by UMAP; the others shown are placed by their nearest fitted neighbours. */
  fitCap?: number
  /** UMAP's neighbourhood size (its `n_neighbors`). */
  nNeighbors?: number
  /** UMAP's minimum distance between points in the picture (its `min_dist`). */
  minDist?: number
  /** Optimisation epochs (umap-js' default: 500 up to 10 000 points). */
  nEpochs?: number
  progress?: Progress
  signal?: AbortSignal
}

/** The parameters a map was made with (stored with it, so a cache can tell whether it still fits). */
export interface MapParams {
  algorithm: 'umap'
  seed: number
  maxPoints: number
  fitCap: number
  nNeighbors: number
  minDist: number
  nEpochs: number
}

export interface EmbeddingMap {
  params: MapParams
  /** Sample ids of the points, in picture order: the fitted ones first, then the placed ones. */
  ids: number[]
  /** Row-major points x 2. */
  xy: number[]
  /** Samples with features (the population the picture was drawn from). */
  total: number
  /** Points laid out by UMAP. */
  fitted: number
  /** Points placed at their nearest fitted neighbours. */
  placed: number
  /** Samples left out of the picture (total - fitted - placed). */
  leftOut: number
}

export const MAP_DEFAULTS = { seed: 42, maxPoints: 5000, fitCap: 2500, nNeighbors: 15, minDist: 0.1 } as const

/** Yields to the event loop (lets a cancel request in) and throws when the signal fired. */
async function breathe(signal: AbortSignal | undefined): Promise<void> {
  await new Promise<void>((r) => setImmediate(r))
  if (signal?.aborted) throw new CancelledError('map')
}

/** Fisher-Yates shuffle of 0..n-1 with the seeded generator. */
function permutation(n: number, seed: number): number[] {
  const rng = createRng(seed)
  const a = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    const t = a[i]!
    a[i] = a[j]!
    a[j] = t
  }
  return a
}

/**
 * The k rows of `cand` nearest to row `q` by cosine distance 1 - a.b (unit rows), excluding row
 * `skip`; ties go to the lower candidate position. Writes positions into `cand` order and distances.
 */
function nearest(f: MapFeatures, q: number, cand: readonly number[], k: number, skip: number, outIdx: number[], outDist: number[]): void {
  const { d, unit } = f
  outIdx.length = 0
  outDist.length = 0
  const qo = q * d
  for (let c = 0; c < cand.length; c++) {
    const r = cand[c]!
    if (r === skip) continue
    const ro = r * d
    let s = 0
    for (let j = 0; j < d; j++) s += unit[qo + j]! * unit[ro + j]!
    const dist = Math.max(0, 1 - s)
    if (outIdx.length === k && dist >= outDist[k - 1]!) continue
    let pos = outIdx.length
    while (pos > 0 && outDist[pos - 1]! > dist) pos--
    outIdx.splice(pos, 0, c)
    outDist.splice(pos, 0, dist)
    if (outIdx.length > k) {
      outIdx.pop()
      outDist.pop()
    }
  }
}

/**
 * Computes the map (see the module comment). Progress: phase 'map', counted in work units over the
 * neighbour search, the layout epochs and the placement. Throws CancelledError when `signal` fires.
 */
export async function computeEmbeddingMap(f: MapFeatures, opts: MapOptions = {}): Promise<EmbeddingMap> {
  const seed = opts.seed ?? MAP_DEFAULTS.seed
  const maxPoints = Math.max(1, opts.maxPoints ?? MAP_DEFAULTS.maxPoints)
  const fitCap = Math.max(1, opts.fitCap ?? MAP_DEFAULTS.fitCap)
  const minDist = opts.minDist ?? MAP_DEFAULTS.minDist
  const progress = opts.progress ?? noProgress
  const signal = opts.signal
  const { n } = f

  // Seeded subsample: the first `shown` of a permutation are in the picture, the first `fitted` of those laid out by UMAP.
  const order = permutation(n, seed)
  const shown = Math.min(n, maxPoints)
  const fitRows = order.slice(0, Math.min(shown, fitCap)).sort((a, b) => a - b)
  const placeRows = order.slice(fitRows.length, shown).sort((a, b) => a - b)
  const m = fitRows.length
  // UMAP needs more points than neighbours; below that a picture says nothing anyway.
  const k = Math.min(opts.nNeighbors ?? MAP_DEFAULTS.nNeighbors, m - 1)
  const nEpochs = opts.nEpochs ?? (m <= 10_000 ? 500 : 200)
  const params: MapParams = { algorithm: 'umap', seed, maxPoints, fitCap, nNeighbors: k, minDist, nEpochs }
  const base = { params, total: n, fitted: 0, placed: 0, leftOut: n }
  if (m < 3 || k < 2) {
    // Too few samples for a neighbourhood graph: a line in id order says as much as a map would.
    const ids = fitRows.map((r) => f.ids[r]!)
    return { ...base, ids, xy: ids.flatMap((_, i) => [i, 0]), fitted: m, leftOut: n - m }
  }

  // Work units for one progress bar: neighbour rows (weighted by their cost), epochs, placed rows.
  const knnUnits = m
  const epochUnits = nEpochs
  const placeUnits = placeRows.length
  const total = knnUnits + epochUnits + placeUnits
  // One stage, so front ends show one bar with the job's ETA (the work units are not items a person counts).
  const report = (done: number): void => {
    const d = Math.min(done, total)
    progress({ phase: 'map', done: d, total, overall: { fraction: d / total, stage: 'map', step: 1, steps: 1 } })
  }
  report(0)

  // 1. Exact k nearest neighbours among the fitted rows.
  const knnIndices: number[][] = []
  const knnDistances: number[][] = []
  const block = Math.max(1, Math.floor(2e7 / Math.max(1, m * f.d)))
  for (let a = 0; a < m; a++) {
    const idx: number[] = []
    const dist: number[] = []
    nearest(f, fitRows[a]!, fitRows, k, fitRows[a]!, idx, dist)
    // UMAP's graph expects each point as its own first neighbour at distance 0 (as its NN-descent returns).
    knnIndices.push([a, ...idx.slice(0, k - 1)])
    knnDistances.push([0, ...dist.slice(0, k - 1)])
    if ((a + 1) % block === 0) {
      report(a + 1)
      await breathe(signal)
    }
  }
  report(knnUnits)
  await breathe(signal)

  // 2. UMAP layout, one epoch per step.
  const umap = new UMAP({ nComponents: 2, nNeighbors: k, minDist, nEpochs, random: mulberry32(seed ^ 0x5bd1e995) })
  umap.setPrecomputedKNN(knnIndices, knnDistances)
  const x = fitRows.map((r) => Array.from(f.unit.subarray(r * f.d, (r + 1) * f.d)))
  const epochs = umap.initializeFit(x)
  for (let e = 0; e < epochs; e++) {
    umap.step()
    if ((e + 1) % 10 === 0) {
      report(knnUnits + Math.round(((e + 1) * epochUnits) / epochs))
      await breathe(signal)
    }
  }
  const emb = umap.getEmbedding()
  const xy: number[] = []
  for (const p of emb) xy.push(p[0]!, p[1]!)
  report(knnUnits + epochUnits)

  // 3. The other shown samples: the similarity-weighted mean of their nearest fitted neighbours.
  const kp = Math.min(k, 10)
  const idx: number[] = []
  const dist: number[] = []
  const pblock = Math.max(1, Math.floor(2e7 / Math.max(1, m * f.d)))
  for (let b = 0; b < placeRows.length; b++) {
    nearest(f, placeRows[b]!, fitRows, kp, -1, idx, dist)
    // Weights exp(-(d_j - d_1) / s) with s the spread of the k distances: the nearest counts most,
    // as in UMAP's membership strengths (module comment), and an exact duplicate sits on its twin.
    const s = Math.max(1e-6, dist[dist.length - 1]! - dist[0]!)
    let wx = 0
    let wy = 0
    let ws = 0
    for (let j = 0; j < idx.length; j++) {
      const w = Math.exp(-(dist[j]! - dist[0]!) / s)
      wx += w * emb[idx[j]!]![0]!
      wy += w * emb[idx[j]!]![1]!
      ws += w
    }
    xy.push(wx / ws, wy / ws)
    if ((b + 1) % pblock === 0) {
      report(knnUnits + epochUnits + b + 1)
      await breathe(signal)
    }
  }
  report(total)
  const ids = [...fitRows, ...placeRows].map((r) => f.ids[r]!)
  return { ...base, ids, xy, fitted: m, placed: placeRows.length, leftOut: n - m - placeRows.length }
}
