/**
 * The leading principal subspace of the features, for matrices where no exact basis of reduce.ts
 * applies (more rows than 3/4 of the dimensions and more than ROTATE_MAX_DIMS dimensions, e.g.
 * 5000 images on the built-in backbone's 3104-d features). Two uses:
 *
 * 1. A spectral preconditioner for L-BFGS. The Hessian of the regularised softmax objective in
 *    one class's weight column is about a X^T X / n + lambda I (a <= 1/4, engine.ts). With the top
 *    m eigenpairs (mu_i, v_i) of X^T X, its inverse is approximated by
 *      M = sum_i v_i v_i^T / (a mu_i / n + lambda) + (I - V V^T) / (a mu_m / n + lambda),
 *    exact on the leading subspace and the curvature of the m-th direction elsewhere (an upper
 *    bound of the rest, so the steps there stay short; L-BFGS rescales and learns the rest from
 *    its secant pairs). It changes how fast a fit converges, never where: the optimum is the same.
 * 2. The basis the lambda and method search runs in ("search projection"): the features
 *    projected onto the top m principal directions, F = X V (n x m, orthogonal columns with
 *    squared norms mu_i). A linear probe on F is the probe on X restricted to W = V W'. The search
 *    scores those restricted models; the final fit then runs on X itself at the chosen lambda
 *    (warm-started from the restricted solution). Where the discarded directions still carry
 *    curvature comparable to n lambda, the restricted and the full model differ; `searchGap`
 *    measures that and the run reports it (refine.ts).
 *
 * The eigenpairs come from randomised block subspace iteration (Halko, Martinsson & Tropp, SIAM
 * Review 2011, Algorithms 4.4 and 5.3): Q = orth(X^T X Omega), `power` more passes of X^T X, then
 * Rayleigh-Ritz on the subspace. Every product with X runs in the compute engine (onnxruntime or
 * tfjs) by row blocks; only d x p and p x p matrices are handled in JS. For d up to about 4 p the
 * same iteration runs on C = X^T X, formed once by the engine (one pass over X instead of
 * 2 + 2 power passes; on 10k x 784 Fashion-MNIST rows about 3x faster).
 */
import { createRng } from '../util/rng.ts'
import type { ComputeEngine } from './engine.ts'
import { cholesky, symmetricEigen } from './reduce.ts'
import type { Preconditioner } from './solvers.ts'
import type { FeatureMatrix } from './types.ts'

/** Principal directions kept for the search projection and the preconditioner. */
export const SUBSPACE_DIMS = 256
/** Extra directions iterated and dropped (oversampling), and the passes of X^T X after the first. */
export const SUBSPACE_OVERSAMPLE = 16
export const SUBSPACE_POWER = 1

export interface PrincipalSubspace {
  d: number
  /** Eigenvalues of X^T X, largest first (m). */
  values: Float64Array
  /** Eigenvectors as the rows of an m x d matrix (row i = v_i). */
  vectors: Float64Array
  m: number
  /** trace(X^T X) = sum of squares of X, for the share of energy the subspace holds. */
  trace: number
  /**
   * Rows of the X whose X^T X this describes. A subspace of a seeded row sample stands for the
   * whole matrix: per-row curvature mu / rows estimates that of all rows (refine.ts).
   */
  rows: number
}

/**
 * Up to d = COVARIANCE_MAX_RATIO x (m + oversample) dimensions the iteration runs on C = X^T X,
 * formed once (`principalSubspace`): 4 x 272 = 1088 covers d <= ROTATE_MAX_DIMS (reduce.ts).
 */
export const COVARIANCE_MAX_RATIO = 4

/** Rows per block of X^T Y (bounds the transposed copy). */
const BLOCK = 2048

/** X^T Y for Y (n x p, row-major float32): d x p, float64, computed by transposed row blocks in the engine. */
async function multiplyTransposed(engine: ComputeEngine, x: FeatureMatrix, y: Float32Array, p: number): Promise<Float64Array> {
  const { n, d } = x
  const out = new Float64Array(d * p)
  for (let r0 = 0; r0 < n; r0 += BLOCK) {
    const b = Math.min(BLOCK, n - r0)
    const xt = new Float32Array(d * b)
    for (let i = 0; i < b; i++) {
      const o = (r0 + i) * d
      for (let j = 0; j < d; j++) xt[j * b + i] = x.data[o + j]!
    }
    const part = await engine.multiply({ data: xt, n: d, d: b }, y.subarray(r0 * p, (r0 + b) * p), p)
    for (let t = 0; t < part.length; t++) out[t]! += part[t]!
  }
  return out
}

/**
 * Orthonormal columns of a d x p matrix (row-major float64; returned as the rows of a p x d
 * matrix) by shifted Cholesky QR applied twice (CholeskyQR2; Fukaya, Kannan, Nakatsukasa,
 * Yamamoto & Yanagisawa, SIAM J. Sci. Comput. 2020): G = Z^T Z = L L^T, Q = Z L^{-T}. Each pass
 * squares the condition number in float64; between power iterations Z = X^T X Q has condition
 * at most mu_1 / mu_p, far inside that range, and the second pass brings Q to orthonormal within
 * rounding. The small shift keeps the factor defined when X has rank below p (those directions
 * come out near zero and get eigenvalue 0 in Rayleigh-Ritz). O(d p^2) in two streaming loops.
 */
function orthonormalColumns(z: Float64Array, d: number, p: number): Float64Array {
  // Columns as the rows of a p x d matrix: every loop below then runs over contiguous memory.
  const c = new Float64Array(p * d)
  for (let j = 0; j < d; j++) for (let q = 0; q < p; q++) c[q * d + j] = z[j * p + q]!
  for (let pass = 0; pass < 2; pass++) {
    const g = new Float64Array(p * p)
    for (let q = 0; q < p; q++) {
      const oq = q * d
      for (let r = 0; r <= q; r++) {
        const or = r * d
        let sum = 0
        for (let j = 0; j < d; j++) sum += c[oq + j]! * c[or + j]!
        g[q * p + r] = g[r * p + q] = sum
      }
    }
    let tr = 0
    for (let q = 0; q < p; q++) tr += g[q * p + q]!
    const shift = Math.max(1e-300, 1e-13 * tr)
    for (let q = 0; q < p; q++) g[q * p + q]! += shift
    const l = cholesky(g, p)
    // Q = Z L^{-T}, column by column: q_q = (z_q - sum_{r<q} L[q][r] q_r) / L[q][q], in place.
    for (let q = 0; q < p; q++) {
      const oq = q * d
      for (let r = 0; r < q; r++) {
        const f = l[q * p + r]!
        if (f === 0) continue
        const or = r * d
        for (let j = 0; j < d; j++) c[oq + j]! -= f * c[or + j]!
      }
      const inv = 1 / l[q * p + q]!
      for (let j = 0; j < d; j++) c[oq + j]! *= inv
    }
  }
  return c
}

/** Q (given as p x d rows) as the d x p row-major float32 matrix the engine multiplies by. */
function asColumns(c: Float64Array, d: number, p: number): Float32Array {
  const out = new Float32Array(d * p)
  for (let q = 0; q < p; q++) for (let j = 0; j < d; j++) out[j * p + q] = c[q * d + j]!
  return out
}

/**
 * The top `m` eigenpairs of X^T X by randomised subspace iteration (module comment). Seeded:
 * the same x and seed give the same subspace.
 */
export async function principalSubspace(
  engine: ComputeEngine,
  x: FeatureMatrix,
  m = SUBSPACE_DIMS,
  opts: { oversample?: number; power?: number; seed?: number; via?: 'covariance' | 'products' } = {},
): Promise<PrincipalSubspace> {
  const { n, d } = x
  const p = Math.min(d, n, m + (opts.oversample ?? SUBSPACE_OVERSAMPLE))
  const keep = Math.min(m, p)
  const rng = createRng((opts.seed ?? 0) ^ 0x5ab5)
  const omega = new Float32Array(d * p)
  for (let t = 0; t < omega.length; t++) omega[t] = rng.normal()
  let qCols: Float32Array = omega
  let rows: Float64Array | undefined
  const power = opts.power ?? SUBSPACE_POWER
  // With d at most COVARIANCE_MAX_RATIO p, C = X^T X (d x d) costs fewer flops than the 2 + 2 power
  // passes over X (n d^2 against 2 (power + 1) n d p), and every pass after it is a d x d product:
  // the same iteration on C instead of on X, X^T.
  const via = opts.via ?? (d <= COVARIANCE_MAX_RATIO * p ? 'covariance' : 'products')
  let cov: FeatureMatrix | undefined
  let trace = 0
  if (via === 'covariance') {
    const c = await multiplyTransposed(engine, x, x.data, d)
    const c32 = new Float32Array(d * d)
    for (let i = 0; i < d; i++) {
      trace += c[i * d + i]!
      for (let j = 0; j <= i; j++) c32[i * d + j] = c32[j * d + i] = 0.5 * (c[i * d + j]! + c[j * d + i]!)
    }
    cov = { data: c32, n: d, d }
  }
  for (let pass = 0; pass <= power; pass++) {
    const z = cov
      ? Float64Array.from(await engine.multiply(cov, qCols, p))
      : await multiplyTransposed(engine, x, await engine.multiply(x, qCols, p), p)
    rows = orthonormalColumns(z, d, p)
    qCols = asColumns(rows, d, p)
  }
  // Rayleigh-Ritz: Q^T C Q = U diag(mu) U^T (with B = X Q: B^T B); the eigenvectors are Q U.
  let g: Float64Array
  if (cov) {
    const cq = await engine.multiply(cov, qCols, p)
    g = new Float64Array(p * p)
    for (let a = 0; a < p; a++) {
      const ra = rows!.subarray(a * d, a * d + d)
      for (let j = 0; j < d; j++) {
        const e = ra[j]!
        const o = j * p
        for (let b = 0; b < p; b++) g[a * p + b]! += e * cq[o + b]!
      }
    }
  } else {
    const b = await engine.multiply(x, qCols, p)
    const bt = new Float32Array(p * n)
    for (let i = 0; i < n; i++) for (let q = 0; q < p; q++) bt[q * n + i] = b[i * p + q]!
    g = await engine.gram({ data: bt, n: p, d: n })
    for (let t = 0; t < x.data.length; t++) trace += x.data[t]! * x.data[t]!
  }
  for (let i = 0; i < p; i++) for (let j = 0; j < i; j++) g[i * p + j] = g[j * p + i] = 0.5 * (g[i * p + j]! + g[j * p + i]!)
  const { values, vectors: u } = symmetricEigen(g, p)
  const vals = new Float64Array(keep)
  const vecs = new Float64Array(keep * d)
  for (let t = 0; t < keep; t++) {
    const col = p - 1 - t // ascending order: the largest last
    vals[t] = Math.max(0, values[col]!)
    const out = vecs.subarray(t * d, t * d + d)
    for (let q = 0; q < p; q++) {
      const uq = u[q * p + col]!
      if (uq === 0) continue
      const rq = rows!.subarray(q * d, q * d + d)
      for (let j = 0; j < d; j++) out[j]! += uq * rq[j]!
    }
  }
  return { d, values: vals, vectors: vecs, m: keep, trace, rows: n }
}

/**
 * The spectral preconditioner of the module comment for parameters laid out as (d + 1) x K
 * (the last row the bias, preconditioned by 4 = 1 / a as the diagonal one does).
 */
export function spectralPreconditioner(s: PrincipalSubspace, n: number, k: number, lambda: number): Preconditioner {
  const { d, m, values, vectors } = s
  const a = 0.25
  const curv = (mu: number) => Math.max(1e-12, (a * mu) / Math.max(1, n) + lambda)
  const rest = 1 / curv(values[m - 1] ?? 0)
  const delta = Float64Array.from(values, (mu) => 1 / curv(mu) - rest)
  const proj = new Float64Array(m * k)
  return {
    apply(v: Float64Array) {
      // proj = V^T v (m x K), then v <- rest v + V (delta o proj).
      proj.fill(0)
      for (let t = 0; t < m; t++) {
        const vt = vectors.subarray(t * d, t * d + d)
        const o = t * k
        for (let j = 0; j < d; j++) {
          const e = vt[j]!
          const jk = j * k
          for (let c = 0; c < k; c++) proj[o + c]! += e * v[jk + c]!
        }
      }
      for (let t = 0; t < m; t++) for (let c = 0; c < k; c++) proj[t * k + c]! *= delta[t]!
      for (let j = 0; j < d * k; j++) v[j]! *= rest
      for (let t = 0; t < m; t++) {
        const vt = vectors.subarray(t * d, t * d + d)
        const o = t * k
        for (let j = 0; j < d; j++) {
          const e = vt[j]!
          const jk = j * k
          for (let c = 0; c < k; c++) v[jk + c]! += e * proj[o + c]!
        }
      }
      for (let j = d * k; j < v.length; j++) v[j]! *= 4
    },
  }
}

/** F = X V: the features in the principal subspace (n x m, orthogonal columns). */
export async function projectOnto(engine: ComputeEngine, x: FeatureMatrix, s: PrincipalSubspace): Promise<FeatureMatrix> {
  const cols = new Float32Array(s.d * s.m)
  for (let t = 0; t < s.m; t++) for (let j = 0; j < s.d; j++) cols[j * s.m + t] = s.vectors[t * s.d + j]!
  return { data: await engine.multiply(x, cols, s.m), n: x.n, d: s.m }
}

/** Parameters of the restricted model ((m + 1) x K, last row the bias) lifted to (d + 1) x K: W = V W'. */
export function liftFromSubspace(s: PrincipalSubspace, w: Float64Array, k: number): Float64Array {
  const { d, m, vectors } = s
  const out = new Float64Array((d + 1) * k)
  for (let t = 0; t < m; t++) {
    const vt = vectors.subarray(t * d, t * d + d)
    for (let j = 0; j < d; j++) {
      const e = vt[j]!
      for (let c = 0; c < k; c++) out[j * k + c]! += e * w[t * k + c]!
    }
  }
  for (let c = 0; c < k; c++) out[d * k + c] = w[m * k + c]!
  return out
}

/**
 * How far the restricted model can be from the full one at `lambda`: the curvature left outside
 * the subspace relative to the regularisation, a mu_{m+1} / (n lambda) with mu_m standing in for
 * mu_{m+1}. Below about 1 the discarded directions are shrunk at least as much as they are fitted.
 */
export function searchGap(s: PrincipalSubspace, n: number, lambda: number): number {
  const mu = s.values[s.m - 1] ?? 0
  return (0.25 * mu) / Math.max(1e-300, n * lambda)
}
