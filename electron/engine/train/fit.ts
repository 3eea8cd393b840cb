/**
 * Building blocks of every method: targets (one-hot, soft, two-hot), one fit of the linear probe
 * with the chosen solver, top-k of probability rows, and held-out accuracy.
 */
import type { Progress } from '../jobs/progress.ts'
import { LinearProblem, type LossKind } from './engine.ts'
import { lbfgs, sgd, type Preconditioner, type SolveInfo } from './solvers.ts'
import type { Solver } from './types.ts'

/** One-hot targets of labels y (n x K). */
export function oneHot(y: Int32Array, k: number): Float32Array {
  const t = new Float32Array(y.length * k)
  for (let i = 0; i < y.length; i++) {
    const c = y[i]!
    if (c < 0 || c >= k) throw new Error(`label ${c} of sample ${i} is outside 0..${k - 1}`)
    t[i * k + c] = 1
  }
  return t
}

/** Top-1 and top-2 class and probability of each row of an n x K probability matrix. */
export function topTwo(probs: Float32Array, k: number): { top1: Int32Array; top1Prob: Float32Array; top2: Int32Array; top2Prob: Float32Array } {
  const n = probs.length / k
  const top1 = new Int32Array(n)
  const top2 = new Int32Array(n)
  const top1Prob = new Float32Array(n)
  const top2Prob = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    let b1 = -1
    let b2 = -1
    let p1 = -Infinity
    let p2 = -Infinity
    for (let c = 0; c < k; c++) {
      const p = probs[i * k + c]!
      if (p > p1) {
        b2 = b1
        p2 = p1
        b1 = c
        p1 = p
      } else if (p > p2) {
        b2 = c
        p2 = p
      }
    }
    top1[i] = b1
    top2[i] = k > 1 ? b2 : b1
    top1Prob[i] = p1
    top2Prob[i] = k > 1 ? p2 : p1
  }
  return { top1, top1Prob, top2, top2Prob }
}

/**
 * The PLL target (Jeong & Chung, Sec. 5): mass 1/2 on each of the teacher's top-2 classes.
 */
export function twoHotTopTwo(probs: Float32Array, k: number): Float32Array {
  const { top1, top2 } = topTwo(probs, k)
  const t = new Float32Array(probs.length)
  for (let i = 0; i < top1.length; i++) {
    t[i * k + top1[i]!]! += 0.5
    t[i * k + top2[i]!]! += 0.5
  }
  return t
}

/** Fraction of rows whose argmax equals the label (labels < 0 are skipped). */
export function accuracy(probs: Float32Array, y: Int32Array, k: number): number {
  let ok = 0
  let cnt = 0
  for (let i = 0; i < y.length; i++) {
    if (y[i]! < 0) continue
    let best = 0
    for (let c = 1; c < k; c++) if (probs[i * k + c]! > probs[i * k + best]!) best = c
    cnt++
    if (best === y[i]) ok++
  }
  return cnt ? ok / cnt : NaN
}

export interface FitOptions {
  solver?: Solver
  /** L-BFGS iteration cap (default 300). */
  maxIter?: number
  gradTol?: number
  relTol?: number
  /** L-BFGS: diagonal preconditioner (see `diagonalPreconditioner`) or the spectral one of subspace.ts. */
  precond?: Float64Array | Preconditioner
  /** SGD recipe: epochs (default 200) and the rest of the recipe (see solvers.ts). */
  epochs?: number
  lr?: number
  batchSize?: number
  seed?: number
  signal?: AbortSignal
  progress?: Progress
  /** SGD only: called after every epoch (e.g. to score a held-out slice and keep the best epoch). */
  onEpoch?: (epoch: number, w: Float64Array) => void | Promise<void>
}

/**
 * Inverse curvature per parameter of the regularised softmax objective, for L-BFGS's initial
 * Hessian: the Hessian of the mean loss in W[j][c] is about a * mean_i x_ij^2 (a = p (1 - p) <= 1/4
 * per class; 1/4 is used) plus lambda; the bias row gets a alone. Only the relative sizes matter
 * (L-BFGS rescales by the secant pairs). On the built-in backbone's non-negative features the
 * first coordinates of the row-space reduction carry most of the energy; this cut the iterations
 * of a fit several-fold (ARCHITECTURE, "Speed of selection").
 */
export function diagonalPreconditioner(
  x: { data: Float32Array; n: number; d: number },
  k: number,
  lambda: number,
  std?: { mean: Float64Array; scale: Float64Array },
): Float64Array {
  const { data, n, d } = x
  const sq = new Float64Array(d)
  for (let i = 0; i < n; i++) {
    const o = i * d
    for (let j = 0; j < d; j++) {
      const v = std ? (data[o + j]! - std.mean[j]!) / std.scale[j]! : data[o + j]!
      sq[j]! += v * v
    }
  }
  const m = new Float64Array((d + 1) * k)
  for (let j = 0; j < d; j++) {
    const h = (0.25 * sq[j]!) / Math.max(1, n) + lambda
    for (let c = 0; c < k; c++) m[j * k + c] = 1 / Math.max(h, 1e-12)
  }
  for (let c = 0; c < k; c++) m[d * k + c] = 4
  return m
}

/** Sets the targets and solves the regularised problem from `w0`. */
export async function fitTargets(
  problem: LinearProblem,
  targets: Float32Array,
  loss: LossKind,
  lambda: number,
  w0: Float64Array,
  opts: FitOptions,
  phase: string,
): Promise<{ w: Float64Array; info: SolveInfo }> {
  await problem.setTargets(targets, loss)
  if ((opts.solver ?? 'lbfgs') === 'sgd') {
    return sgd(problem, lambda, w0, {
      epochs: opts.epochs,
      lr: opts.lr,
      batchSize: opts.batchSize,
      seed: opts.seed,
      signal: opts.signal,
      progress: opts.progress,
      phase,
      onEpoch: opts.onEpoch,
    })
  }
  return lbfgs((w) => problem.lossGrad(w, lambda), w0, {
    maxIter: opts.maxIter,
    gradTol: opts.gradTol,
    relTol: opts.relTol,
    precond: opts.precond,
    signal: opts.signal,
    progress: opts.progress,
    phase,
  })
}
