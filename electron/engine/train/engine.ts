/**
 * Compute engines for the linear probe of Jeong & Chung (ICLR 2025): softmax regression
 * z = x W + b, p = softmax(z), trained on soft targets. An engine only computes, over (blocks of)
 * rows, the raw sums a solver needs; everything that is cheap (the mean, the L2 term, the feature
 * standardisation, the bias) lives once here in `LinearProblem`, so both engines share that math.
 *
 * Losses (per sample i, targets t_i >= 0 with sum_c t_ic = 1):
 * - 'ce':  l_i = -sum_c t_ic log p_ic,                 dl_i/dz_i = p_i - t_i
 * - 'gce': l_i = sum_c t_ic (1 - p_ic^q) / q  (Zhang & Sabuncu 2018, as the authors' PLL code
 *   uses it with t = (1/2, 1/2) on the two candidates, q = 0.7). With d p_c / d z = p_c (e_c - p):
 *   dl_i/dz_i = -sum_c t_ic p_ic^q (e_c - p_i) = s_i p_i - a_i, where a_ic = t_ic p_ic^q and
 *   s_i = sum_c a_ic.
 * Objective: L(W, b) = (1/n) sum_i l_i + lambda/2 |W|^2 (the bias is not penalised).
 * Gradient: dL/dW = X^T (dl/dz) / n + lambda W, dL/db = colsum(dl/dz) / n.
 */
import type { EngineName, FeatureMatrix } from './types.ts'

export type LossKind = 'ce' | 'gce'

/** Generalised cross-entropy exponent of the authors' reference code. */
export const GCE_Q = 0.7

/** Raw sums over a set of rows, for given effective weights (d x K) and bias (K). */
export interface RawSums {
  /** sum_i l_i */
  loss: number
  /** X^T (dl/dz), d x K row-major. */
  gw: Float64Array
  /** colsum(dl/dz), length K. */
  gb: Float64Array
}

/** What an engine holds for one training matrix. */
export interface EngineData {
  readonly n: number
  readonly d: number
  readonly k: number
  /** Replaces the targets (n x K row-major, rows summing to 1) and the loss. */
  setTargets(t: Float32Array, loss: LossKind, q?: number): Promise<void>
  /** Sums over all rows, or over `rows` (a mini-batch) when given. */
  sums(w: Float32Array, b: Float32Array, rows?: Int32Array): Promise<RawSums>
  /** softmax(X w + b) for all rows, n x K. */
  probs(w: Float32Array, b: Float32Array): Promise<Float32Array>
  dispose(): Promise<void>
}

/** A compute engine: ort (onnxruntime graphs, the default) or tfjs (tfjs-node, or tfjs' wasm backend). */
export interface ComputeEngine {
  readonly name: EngineName
  /** Human-readable backend, e.g. 'onnxruntime cpu' or 'tfjs wasm'. */
  readonly backend: string
  /** Uploads a training matrix. The engine may keep views of `x.data`: do not modify it. */
  load(x: FeatureMatrix, k: number): Promise<EngineData>
  /** softmax(X w + b) for any matrix, n x K. */
  predict(x: FeatureMatrix, w: Float32Array, b: Float32Array, k: number): Promise<Float32Array>
  /** The Gram matrix X X^T (n x n, row-major), for the row-space reduction of reduce.ts. */
  gram(x: FeatureMatrix): Promise<Float64Array>
  /** X B for B (d x m, row-major): n x m, for the rotation to the eigenbasis of reduce.ts. */
  multiply(x: FeatureMatrix, b: Float32Array, m: number): Promise<Float32Array>
  dispose(): Promise<void>
}

export interface EngineOptions {
  /** onnxruntime execution provider ('cpu' default; 'cuda' where present). */
  executionProvider?: string
  /** Rows per block for large n (default 16384): bounds the engine's temporaries. */
  blockRows?: number
  /** onnxruntime intra-op threads (default: onnxruntime's choice). */
  threads?: number
  /**
   * ort engine: keep X on the device (per-block graphs with the block baked in as a constant), so
   * an evaluation moves only W, b and the targets. 'auto' (default): on a GPU execution provider,
   * the resident GPU variant is timed against the CPU at the first evaluation of each loaded
   * matrix and the faster one is kept; on the CPU, X is fed as views (no extra copy).
   * true / false force the resident / fed variant on the requested provider.
   */
  resident?: boolean | 'auto'
  /** ort engine: where device choices and fallbacks are reported (default: console.warn for a GPU provider, silent on the CPU). */
  log?: (message: string) => void
}

/** Creates an engine by name. */
export async function createEngine(name: EngineName = 'ort', opts: EngineOptions = {}): Promise<ComputeEngine> {
  if (name === 'ort') {
    const { createOrtEngine } = await import('./ort-engine.ts')
    return createOrtEngine(opts)
  }
  if (name === 'tfjs') {
    const { createTfjsEngine } = await import('./tfjs-engine.ts')
    return createTfjsEngine(opts)
  }
  throw new Error(`unknown compute engine '${String(name)}' (expected 'ort' or 'tfjs')`)
}

/** Per-feature affine map x -> (x - mean) / scale, applied implicitly (the matrix is never copied). */
export interface Standardization {
  mean: Float64Array
  scale: Float64Array
}

/**
 * Mean and standard deviation per feature (population std, floored; see below). Two passes,
 * float64.
 */
export function computeStandardization(x: FeatureMatrix): Standardization {
  const { data, n, d } = x
  const mean = new Float64Array(d)
  for (let i = 0; i < n; i++) {
    const o = i * d
    for (let j = 0; j < d; j++) mean[j]! += data[o + j]!
  }
  for (let j = 0; j < d; j++) mean[j]! /= Math.max(1, n)
  const v = new Float64Array(d)
  for (let i = 0; i < n; i++) {
    const o = i * d
    for (let j = 0; j < d; j++) {
      const e = data[o + j]! - mean[j]!
      v[j]! += e * e
    }
  }
  const scale = new Float64Array(d)
  let meanStd = 0
  for (let j = 0; j < d; j++) {
    scale[j] = Math.sqrt(v[j]! / Math.max(1, n))
    meanStd += scale[j]! / d
  }
  // Floor at a tenth of the average std: a feature that is almost always constant (a border pixel
  // that lights up in a handful of images) would otherwise be blown up by 1/std, and the model
  // would memorise the few samples where it is non-zero. Standardisation stays off by default: on
  // Fashion-MNIST pixels (10k rows, symmetric 0.8, PLL) it lost 1 to 25 points at lambda 1e-2 and
  // 1e-3, while a bias gained under 1 point.
  const floor = Math.max(1e-8, 0.1 * meanStd)
  for (let j = 0; j < d; j++) scale[j] = Math.max(scale[j]!, floor)
  return { mean, scale }
}

/**
 * A trained linear probe. Parameters are stored as one float64 vector `w` of length (d + 1) * K:
 * rows 0..d-1 are W (in standardised feature space when `std` is set), row d is the bias (zero
 * and fixed when `bias` is false).
 */
export interface LinearModel {
  d: number
  k: number
  bias: boolean
  std?: Standardization
  w: Float64Array
}

/** Number of parameters of a model with d features and K classes (W plus the bias row). */
export function paramCount(d: number, k: number): number {
  return (d + 1) * k
}

/**
 * The effective weights on raw features: with standardisation z = ((x - mu)/s) W + b
 * = x (W / s) + (b - mu^T (W / s)), so the engine runs on the raw matrix.
 */
export function effectiveWeights(m: LinearModel): { w: Float32Array; b: Float32Array } {
  const { d, k } = m
  const w = new Float32Array(d * k)
  const b = new Float64Array(k)
  for (let c = 0; c < k; c++) b[c] = m.bias ? m.w[d * k + c]! : 0
  for (let j = 0; j < d; j++) {
    const s = m.std ? m.std.scale[j]! : 1
    const mu = m.std ? m.std.mean[j]! : 0
    for (let c = 0; c < k; c++) {
      const we = m.w[j * k + c]! / s
      w[j * k + c] = we
      if (mu !== 0) b[c]! -= mu * we
    }
  }
  return { w, b: Float32Array.from(b) }
}

/**
 * The objective of one training problem over an uploaded matrix, in the parameter layout of
 * `LinearModel`. Float64 on the optimiser side; the engine computes in float32 and its sums are
 * accumulated in float64.
 */
export class LinearProblem {
  readonly n: number
  readonly d: number
  readonly k: number
  /** Evaluations of loss + gradient so far (for throughput figures). */
  evaluations = 0
  /** Rows processed by those evaluations (mini-batches count their own size). */
  rowsEvaluated = 0

  constructor(
    readonly data: EngineData,
    readonly bias: boolean,
    readonly std?: Standardization,
  ) {
    this.n = data.n
    this.d = data.d
    this.k = data.k
  }

  /** Parameter vector length. */
  get size(): number {
    return paramCount(this.d, this.k)
  }

  model(w: Float64Array): LinearModel {
    return { d: this.d, k: this.k, bias: this.bias, std: this.std, w: Float64Array.from(w) }
  }

  setTargets(t: Float32Array, loss: LossKind, q = GCE_Q): Promise<void> {
    if (t.length !== this.n * this.k) throw new Error(`targets: expected ${this.n} x ${this.k} values, got ${t.length}`)
    return this.data.setTargets(t, loss, q)
  }

  /**
   * Mean loss over all rows (or `rows`) + lambda/2 |W|^2, and its gradient in the parameter
   * layout (the bias row's gradient is 0 when there is no bias). Chain rule through the
   * standardisation: dL/dW_j = (g_j - mu_j gb) / s_j, with g, gb the raw sums for the effective
   * weights (see `effectiveWeights`).
   */
  async lossGrad(w: Float64Array, lambda: number, rows?: Int32Array): Promise<{ loss: number; grad: Float64Array }> {
    const { d, k } = this
    const m: LinearModel = { d, k, bias: this.bias, std: this.std, w }
    const eff = effectiveWeights(m)
    const cnt = rows ? rows.length : this.n
    const s = await this.data.sums(eff.w, eff.b, rows)
    this.evaluations++
    this.rowsEvaluated += cnt
    const inv = 1 / Math.max(1, cnt)
    const grad = new Float64Array(this.size)
    let reg = 0
    for (let j = 0; j < d; j++) {
      const sc = this.std ? this.std.scale[j]! : 1
      const mu = this.std ? this.std.mean[j]! : 0
      for (let c = 0; c < k; c++) {
        const wi = w[j * k + c]!
        reg += wi * wi
        grad[j * k + c] = ((s.gw[j * k + c]! - mu * s.gb[c]!) / sc) * inv + lambda * wi
      }
    }
    if (this.bias) for (let c = 0; c < k; c++) grad[d * k + c] = s.gb[c]! * inv
    return { loss: s.loss * inv + 0.5 * lambda * reg, grad }
  }

  /** softmax outputs on the training rows. */
  probs(w: Float64Array): Promise<Float32Array> {
    const eff = effectiveWeights({ d: this.d, k: this.k, bias: this.bias, std: this.std, w })
    return this.data.probs(eff.w, eff.b)
  }

  dispose(): Promise<void> {
    return this.data.dispose()
  }
}

/** softmax outputs of a model on any matrix. */
export function predictModel(engine: ComputeEngine, m: LinearModel, x: FeatureMatrix): Promise<Float32Array> {
  if (x.d !== m.d) throw new Error(`predict: features have ${x.d} dimensions, the model was trained on ${m.d}`)
  const eff = effectiveWeights(m)
  return engine.predict(x, eff.w, eff.b, m.k)
}

/** Rows of a matrix (a copy), e.g. one fold's training part. */
export function selectRows(x: FeatureMatrix, rows: ArrayLike<number>): FeatureMatrix {
  const { d } = x
  const out = new Float32Array(rows.length * d)
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!
    out.set(x.data.subarray(r * d, r * d + d), i * d)
  }
  return { data: out, n: rows.length, d }
}

/** Sum of each target row (1 for proper distributions; kept exact for the GCE loss's constant). */
export function targetRowSums(t: Float32Array, n: number, k: number): Float64Array {
  const out = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    let s = 0
    for (let c = 0; c < k; c++) s += t[i * k + c]!
    out[i] = s
  }
  return out
}

/** A mini-batch for both engines: copies of its rows of X and of the targets, and its target sum. */
export function gatherBatch(
  x: FeatureMatrix,
  targets: Float32Array,
  k: number,
  rowSum: Float64Array,
  rows: Int32Array,
): { xb: Float32Array; tb: Float32Array; tsum: number } {
  let tsum = 0
  for (let i = 0; i < rows.length; i++) tsum += rowSum[rows[i]!]!
  return { xb: selectRows(x, rows).data, tb: selectRows({ data: targets, n: x.n, d: k }, rows).data, tsum }
}

/** The training targets an engine holds for one loaded matrix, as `setTargets` last set them. */
export interface LoadedTargets {
  /** n x K row-major, a copy of the caller's array. */
  targets: Float32Array
  /** Sum of each target row (see `targetRowSums`). */
  rowSum: Float64Array
  loss: LossKind
  /** The GCE exponent (unused for 'ce'). */
  q: number
}

/**
 * The opening both engines' `load()` share: checks that `x` holds n x d values, then keeps the
 * targets that `setTargets` replaces (copied, with their row sums; q defaults to `GCE_Q`) for
 * `sums` to read. `current()` throws before the first `set()`; `loss()` turns an engine's raw
 * per-row sum into the loss of the formulas at the top of this file.
 */
export function loadTargets(
  x: FeatureMatrix,
  k: number,
): {
  set(t: Float32Array, loss: LossKind, q?: number): LoadedTargets
  current(): LoadedTargets
  clear(): void
  loss(lsum: number, tsum: number): number
} {
  const { n, d } = x
  if (x.data.length !== n * d) throw new Error(`feature matrix: expected ${n} x ${d} values, got ${x.data.length}`)
  let state: LoadedTargets | undefined
  const current = (): LoadedTargets => {
    if (!state) throw new Error('training targets not set')
    return state
  }
  return {
    set(t, loss, q = GCE_Q) {
      const targets = Float32Array.from(t)
      state = { targets, rowSum: targetRowSums(targets, n, k), loss, q }
      return state
    },
    current,
    clear() {
      state = undefined
    },
    // ce: lsum = sum t log p, loss = -lsum; gce: lsum = sum t p^q, loss = (sum t - lsum) / q.
    loss(lsum, tsum) {
      const { loss, q } = current()
      return loss === 'ce' ? -lsum : (tsum - lsum) / q
    },
  }
}
