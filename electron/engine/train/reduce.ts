/**
 * Exact row-space reduction of the linear probe when there are fewer samples than feature
 * dimensions (n < d), e.g. 500 images on the built-in backbone's 3104-d features.
 *
 * Why it is exact: the objective (1/n) sum_i l(x_i W + b) + lambda/2 |W|^2 (engine.ts) does not
 * change when a component of W orthogonal to every row x_i is removed, except that |W|^2 gets
 * smaller, so the optimum lies in the row space: W = X^T A (the representer theorem for
 * L2-regularised linear models; Schoelkopf, Herbrich & Smola 2001). With the Gram matrix
 * G = X X^T = L L^T (Cholesky) and V = L^T A, the logits are X W = G A = L V and the penalty is
 * tr(A^T G A) = |V|^2: the same problem with the rows of L (n x n) as features. The same holds for
 * any subset of the rows (a validation fold): its optimum lies in the span of its own rows, which
 * is inside the span of all rows, and a held-out row's logits x_h W are L_h V. Selection and the
 * final fit therefore score and deploy exactly the model they would without the reduction, on
 * n x n instead of n x d matrices; `lift` maps V back to W = X^T L^{-T} V for new samples.
 *
 * A tiny jitter (1e-9 of the mean diagonal) keeps the Cholesky factor defined when rows repeat
 * (identical images give identical features); it perturbs the problem far below float32 precision.
 */
import type { ComputeEngine, Standardization } from './engine.ts'
import type { FeatureMatrix } from './types.ts'

/** Reduce only when it pays: fewer rows than 3/4 of the dimensions, and a Cholesky that stays cheap in JS. */
export const REDUCE_MAX_ROWS = 3000

/**
 * With more rows than dimensions, up to this many dimensions the features are rotated into the
 * eigenbasis of X^T X (an exact change of coordinates: |W|^2 is rotation-invariant), where the
 * diagonal preconditioner of L-BFGS matches the Hessian's spectrum. The d x d eigendecomposition
 * runs in JS: about a second at d = 784.
 */
export const ROTATE_MAX_DIMS = 1024

export interface Reduction {
  /** n x n reduced features F (rows of the Cholesky factor L, F F^T = G + jitter). */
  f: FeatureMatrix
  /** Maps reduced parameters ((n + 1) x K, last row the bias) to ((d + 1) x K) in the coordinates of `x`. */
  lift(v: Float64Array, k: number): Float64Array
}

/**
 * Rotation into the eigenbasis of C = X^T X = V S^2 V^T: F = X V (n x d, orthogonal columns with
 * squared norms S^2), and back W = V W'. Exact: the loss sees X W = F W' and |W| = |W'|.
 */
export async function eigenRotation(engine: ComputeEngine, x: FeatureMatrix): Promise<Reduction> {
  const { n, d } = x
  // X^T X as the Gram matrix of X^T (d x n).
  const xt = new Float32Array(d * n)
  for (let i = 0; i < n; i++) {
    const o = i * d
    for (let j = 0; j < d; j++) xt[j * n + i] = x.data[o + j]!
  }
  const c = await engine.gram({ data: xt, n: d, d: n })
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) c[i * d + j] = c[j * d + i] = 0.5 * (c[i * d + j]! + c[j * d + i]!)
  const { vectors } = symmetricEigen(c, d)
  // Largest first, so the leading coordinates carry the most energy.
  const v = new Float32Array(d * d)
  for (let r = 0; r < d; r++) for (let q = 0; q < d; q++) v[r * d + q] = vectors[r * d + (d - 1 - q)]!
  const f = await engine.multiply(x, v, d)
  return {
    f: { data: f, n, d },
    lift(w: Float64Array, k: number): Float64Array {
      const out = new Float64Array((d + 1) * k)
      for (let j = 0; j < d; j++)
        for (let q = 0; q < d; q++) {
          const vq = v[j * d + q]!
          if (vq === 0) continue
          for (let cc = 0; cc < k; cc++) out[j * k + cc]! += vq * w[q * k + cc]!
        }
      for (let cc = 0; cc < k; cc++) out[d * k + cc] = w[d * k + cc]!
      return out
    },
  }
}

/** Whether `eigenRotation` applies (and pays) for an n x d matrix. */
export function shouldRotate(n: number, d: number): boolean {
  return !shouldReduce(n, d) && d >= 2 && d <= ROTATE_MAX_DIMS && n >= d
}

/**
 * The basis every fit of a refinement runs in: the row-space reduction (n < d), the eigenbasis
 * rotation (d <= ROTATE_MAX_DIMS), or x itself. Exact in each case.
 */
export async function spectralBasis(engine: ComputeEngine, x: FeatureMatrix): Promise<{ red: Reduction; kind: 'reduced' | 'rotated' } | null> {
  if (shouldReduce(x.n, x.d)) return { red: await rowSpaceReduction(engine, x), kind: 'reduced' }
  if (shouldRotate(x.n, x.d)) return { red: await eigenRotation(engine, x), kind: 'rotated' }
  return null
}

/** Whether `rowSpaceReduction` applies to an n x d matrix. */
export function shouldReduce(n: number, d: number): boolean {
  return n >= 2 && n <= REDUCE_MAX_ROWS && n < 0.75 * d
}

/** In-place lower Cholesky factor of a symmetric positive definite n x n matrix (row-major, float64). */
export function cholesky(g: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n)
  for (let i = 0; i < n; i++) {
    const li = i * n
    for (let j = 0; j <= i; j++) {
      const lj = j * n
      let s = g[li + j]!
      for (let p = 0; p < j; p++) s -= l[li + p]! * l[lj + p]!
      if (i === j) {
        if (!(s > 0)) throw new Error(`cholesky: the Gram matrix is not positive definite at row ${i}`)
        l[li + i] = Math.sqrt(s)
      } else {
        l[li + j] = s / l[lj + j]!
      }
    }
  }
  return l
}

/** A copy of X with the standardisation applied (x - mean) / scale. */
export function standardized(x: FeatureMatrix, std: Standardization): FeatureMatrix {
  const out = new Float32Array(x.data.length)
  for (let i = 0; i < x.n; i++) {
    const o = i * x.d
    for (let j = 0; j < x.d; j++) out[o + j] = (x.data[o + j]! - std.mean[j]!) / std.scale[j]!
  }
  return { data: out, n: x.n, d: x.d }
}

/** Rows up to which the reduction uses the eigenbasis (whose diagonal Hessian suits a diagonal preconditioner). */
export const EIGEN_MAX_ROWS = 800

/**
 * The reduction in the eigenbasis: G = U S^2 U^T, F = U S (orthogonal columns), W = X^T U S^-1 V.
 * Directions with eigenvalues below 1e-10 of the largest carry no signal and are dropped.
 */
function eigenReduction(x: FeatureMatrix, g: Float64Array): Reduction {
  const { n } = x
  const { values, vectors } = symmetricEigen(g, n)
  const top = values[n - 1]!
  const keep: number[] = []
  for (let c = n - 1; c >= 0; c--) if (values[c]! > 1e-10 * top) keep.push(c)
  const r = keep.length
  const f = new Float32Array(n * r)
  const sv = keep.map((c) => Math.sqrt(values[c]!))
  for (let i = 0; i < n; i++) for (let q = 0; q < r; q++) f[i * r + q] = vectors[i * n + keep[q]!]! * sv[q]!
  return {
    f: { data: f, n, d: r },
    lift(v: Float64Array, k: number): Float64Array {
      const a = new Float64Array(n * k)
      for (let i = 0; i < n; i++)
        for (let q = 0; q < r; q++) {
          const u = vectors[i * n + keep[q]!]! / sv[q]!
          for (let c = 0; c < k; c++) a[i * k + c]! += u * v[q * k + c]!
        }
      return liftRows(x, a, k, v.subarray(r * k, r * k + k))
    },
  }
}

/** W = X^T A (the representer form of the weights, A n x K) with the bias row appended. */
function liftRows(x: FeatureMatrix, a: Float64Array, k: number, bias: Float64Array): Float64Array {
  const { n, d } = x
  const w = new Float64Array((d + 1) * k)
  for (let i = 0; i < n; i++) {
    const o = i * d
    for (let j = 0; j < d; j++) {
      const xv = x.data[o + j]!
      if (xv === 0) continue
      for (let c = 0; c < k; c++) w[j * k + c]! += xv * a[i * k + c]!
    }
  }
  w.set(bias, d * k)
  return w
}

/** Builds the reduction of `x` (see the module comment). */
export async function rowSpaceReduction(engine: ComputeEngine, x: FeatureMatrix): Promise<Reduction> {
  const { n } = x
  const g = await engine.gram(x)
  if (n <= EIGEN_MAX_ROWS) {
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g[i * n + j] = g[j * n + i] = 0.5 * (g[i * n + j]! + g[j * n + i]!)
    return eigenReduction(x, g)
  }
  let tr = 0
  for (let i = 0; i < n; i++) tr += g[i * n + i]!
  const jitter = Math.max(1e-12, (1e-9 * tr) / n)
  for (let i = 0; i < n; i++) g[i * n + i]! += jitter
  // Symmetrise (the float32 products of the two halves can differ in the last bit).
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g[i * n + j] = g[j * n + i] = 0.5 * (g[i * n + j]! + g[j * n + i]!)
  const l = cholesky(g, n)
  const f = { data: Float32Array.from(l), n, d: n }
  return {
    f,
    lift(v: Float64Array, k: number): Float64Array {
      // A = L^{-T} V: back substitution on the upper-triangular L^T.
      const a = new Float64Array(n * k)
      for (let i = n - 1; i >= 0; i--) {
        for (let c = 0; c < k; c++) {
          let s = v[i * k + c]!
          for (let p = i + 1; p < n; p++) s -= l[p * n + i]! * a[p * k + c]!
          a[i * k + c] = s / l[i * n + i]!
        }
      }
      return liftRows(x, a, k, v.subarray(n * k, n * k + k))
    },
  }
}

/**
 * Eigen-decomposition of a symmetric n x n matrix (row-major, float64): Householder reduction to
 * tridiagonal form and the implicit QL algorithm with Wilkinson-style shifts (Bowdler, Martin,
 * Reinsch & Wilkinson, Numer. Math. 1968; the EISPACK routines tred2/tql2 in the form JAMA
 * publishes). Returns the eigenvalues in ascending order and the eigenvectors as the columns of
 * an n x n row-major matrix. O(n^3): used for n up to a few hundred.
 */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  // W = V^T (the input is symmetric, so it starts as a copy): the inner loops of the reduction
  // then run along rows, and W is exactly the Z = V^T that tql2 rotates.
  const W: Float64Array[] = Array.from({ length: n }, (_, i) => Float64Array.from(a.subarray(i * n, i * n + n)))
  const d = new Float64Array(n)
  const e = new Float64Array(n)
  // tred2
  for (let j = 0; j < n; j++) d[j] = W[j]![n - 1]!
  for (let i = n - 1; i > 0; i--) {
    let scale = 0
    let h = 0
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!)
    if (scale === 0) {
      e[i] = d[i - 1]!
      for (let j = 0; j < i; j++) {
        d[j] = W[j]![i - 1]!
        W[j]![i] = 0
        W[i]![j] = 0
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k]! /= scale
        h += d[k]! * d[k]!
      }
      let f = d[i - 1]!
      let g = Math.sqrt(h)
      if (f > 0) g = -g
      e[i] = scale * g
      h -= f * g
      d[i - 1] = f - g
      for (let j = 0; j < i; j++) e[j] = 0
      for (let j = 0; j < i; j++) {
        f = d[j]!
        W[i]![j] = f
        g = e[j]! + W[j]![j]! * f
        for (let k = j + 1; k <= i - 1; k++) {
          g += W[j]![k]! * d[k]!
          e[k]! += W[j]![k]! * f
        }
        e[j] = g
      }
      f = 0
      for (let j = 0; j < i; j++) {
        e[j]! /= h
        f += e[j]! * d[j]!
      }
      const hh = f / (h + h)
      for (let j = 0; j < i; j++) e[j]! -= hh * d[j]!
      for (let j = 0; j < i; j++) {
        f = d[j]!
        g = e[j]!
        for (let k = j; k <= i - 1; k++) W[j]![k]! -= f * e[k]! + g * d[k]!
        d[j] = W[j]![i - 1]!
        W[j]![i] = 0
      }
    }
    d[i] = h
  }
  for (let i = 0; i < n - 1; i++) {
    W[i]![n - 1] = W[i]![i]!
    W[i]![i] = 1
    const h = d[i + 1]!
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = W[i + 1]![k]! / h
      for (let j = 0; j <= i; j++) {
        let g = 0
        for (let k = 0; k <= i; k++) g += W[i + 1]![k]! * W[j]![k]!
        for (let k = 0; k <= i; k++) W[j]![k]! -= g * d[k]!
      }
    }
    for (let k = 0; k <= i; k++) W[i + 1]![k] = 0
  }
  for (let j = 0; j < n; j++) {
    d[j] = W[j]![n - 1]!
    W[j]![n - 1] = 0
  }
  W[n - 1]![n - 1] = 1
  e[0] = 0
  // tql2 rotates pairs of columns of V: contiguous rows of Z = V^T = W.
  const Z = W
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!
  e[n - 1] = 0
  let f = 0
  let tst1 = 0
  const eps = 2 ** -52
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!))
    let m = l
    while (m < n) {
      if (Math.abs(e[m]!) <= eps * tst1) break
      m++
    }
    if (m > l) {
      let iter = 0
      do {
        if (++iter > 60) throw new Error('symmetricEigen: no convergence')
        let g = d[l]!
        let p = (d[l + 1]! - g) / (2 * e[l]!)
        let r = Math.hypot(p, 1)
        if (p < 0) r = -r
        d[l] = e[l]! / (p + r)
        d[l + 1] = e[l]! * (p + r)
        const dl1 = d[l + 1]!
        let h = g - d[l]!
        for (let i = l + 2; i < n; i++) d[i]! -= h
        f += h
        p = d[m]!
        let c = 1
        let c2 = c
        let c3 = c
        const el1 = e[l + 1]!
        let s = 0
        let s2 = 0
        for (let i = m - 1; i >= l; i--) {
          c3 = c2
          c2 = c
          s2 = s
          g = c * e[i]!
          h = c * p
          r = Math.hypot(p, e[i]!)
          e[i + 1] = s * r
          s = e[i]! / r
          c = p / r
          p = c * d[i]! - s * g
          d[i + 1] = h + s * (c * g + s * d[i]!)
          const zi = Z[i]!
          const zi1 = Z[i + 1]!
          for (let k = 0; k < n; k++) {
            h = zi1[k]!
            zi1[k] = s * zi[k]! + c * h
            zi[k] = c * zi[k]! - s * h
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1
        e[l] = s * p
        d[l] = c * p
      } while (Math.abs(e[l]!) > eps * tst1)
    }
    d[l] = d[l]! + f
    e[l] = 0
  }
  // Ascending order.
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[x]! - d[y]!)
  const values = Float64Array.from(order, (i) => d[i]!)
  const vectors = new Float64Array(n * n)
  for (let c = 0; c < n; c++) {
    const z = Z[order[c]!]!
    for (let r = 0; r < n; r++) vectors[r * n + c] = z[r]!
  }
  return { values, vectors }
}
