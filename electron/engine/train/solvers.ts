/**
 * Optimisers over a `LinearProblem`: full-batch L-BFGS to the regularised optimum (the default;
 * the paper's theory analyses that optimum) and the paper's mini-batch SGD recipe. The optimiser
 * state is float64 plain TypeScript; the engine does the matrix work.
 */
import { CancelledError, type Progress } from '../jobs/progress.ts'
import { createRng } from '../util/rng.ts'
import type { LinearProblem } from './engine.ts'

export type Objective = (w: Float64Array) => Promise<{ loss: number; grad: Float64Array }>

export interface SolveInfo {
  iterations: number
  evaluations: number
  loss: number
  gradNorm: number
  converged: boolean
  reason: string
}

export interface LbfgsOptions {
  /** Maximum iterations (default 300). */
  maxIter?: number
  /** History pairs kept (default 10). */
  memory?: number
  /** Stop when |grad|_inf <= gradTol (default 1e-6). */
  gradTol?: number
  /** Stop when |f_k - f_{k+1}| <= relTol * max(|f_k|, |f_{k+1}|, 1) (default 1e-10). */
  relTol?: number
  /**
   * Diagonal preconditioner: the initial inverse Hessian is gamma * diag(precond) instead of
   * gamma * I (gamma from the latest secant pair, Nocedal & Wright eq. 7.20 in the scaled
   * metric). An estimate of the inverse curvature per parameter evens out badly scaled features.
   */
  precond?: Float64Array | Preconditioner
  signal?: AbortSignal
  progress?: Progress
  phase?: string
}

/**
 * A preconditioner that is not diagonal (e.g. the spectral one of subspace.ts): applies an
 * approximate inverse Hessian M, symmetric positive definite, to a vector in place.
 */
export interface Preconditioner {
  apply(v: Float64Array): void
}

/** v <- M v for a diagonal (array) or general preconditioner; identity when there is none. */
function applyPrecond(M: Float64Array | Preconditioner | undefined, v: Float64Array): void {
  if (!M) return
  if (M instanceof Float64Array) for (let j = 0; j < v.length; j++) v[j]! *= M[j]!
  else M.apply(v)
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!
  return s
}

function normInf(a: Float64Array): number {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!))
  return m
}

/**
 * Minimiser of the cubic interpolating f and f' at two points (Nocedal & Wright, eq. 3.59),
 * clamped to the interval's interior; bisection when the cubic has no usable minimiser.
 */
function cubicMin(a: number, fa: number, ga: number, b: number, fb: number, gb: number): number {
  const d1 = ga + gb - (3 * (fa - fb)) / (a - b)
  const disc = d1 * d1 - ga * gb
  const lo = Math.min(a, b)
  const hi = Math.max(a, b)
  if (disc >= 0 && Number.isFinite(disc)) {
    const d2 = Math.sign(b - a) * Math.sqrt(disc)
    const t = b - (b - a) * ((gb + d2 - d1) / (gb - ga + 2 * d2))
    const margin = 0.1 * (hi - lo)
    if (Number.isFinite(t) && t > lo + margin && t < hi - margin) return t
  }
  return (a + b) / 2
}

interface LineResult {
  alpha: number
  x: Float64Array
  f: number
  g: Float64Array
  evals: number
  ok: boolean
}

/**
 * Line search for the strong Wolfe conditions (Nocedal & Wright, Algorithms 3.5 and 3.6):
 * f(x + a d) <= f(x) + c1 a g.d and |g(x + a d).d| <= c2 |g.d|, c1 = 1e-4, c2 = 0.9.
 */
async function strongWolfe(
  fg: Objective,
  x: Float64Array,
  f0: number,
  g0: Float64Array,
  d: Float64Array,
  alpha1: number,
  maxEvals = 25,
): Promise<LineResult> {
  const c1 = 1e-4
  const c2 = 0.9
  const dg0 = dot(g0, d)
  let evals = 0
  interface Pt {
    a: number
    x: Float64Array
    f: number
    g: Float64Array
    dg: number
  }
  const at = async (a: number): Promise<Pt> => {
    const xa = new Float64Array(x.length)
    for (let i = 0; i < x.length; i++) xa[i] = x[i]! + a * d[i]!
    const r = await fg(xa)
    evals++
    return { a, x: xa, f: r.loss, g: r.grad, dg: dot(r.grad, d) }
  }
  // Near the optimum the loss (float32 per row in the engine) stops resolving the decrease the
  // Armijo test asks for; then accept Hager & Zhang's approximate Wolfe conditions (SIAM J. Optim.
  // 16(1), 2005, eq. 4.1): f <= f0 + eps |f0| and (2 delta - 1) g0.d >= g.d >= sigma g0.d,
  // delta = 0.1, sigma = 0.9, so that the gradient, which stays accurate, still drives the step.
  const epsF = 1e-6 * Math.abs(f0)
  const approxWolfe = (p: Pt) => p.f <= f0 + epsF && p.dg <= 0.8 * -dg0 && p.dg >= 0.9 * dg0
  const done = (p: Pt): LineResult => ({ alpha: p.a, x: p.x, f: p.f, g: p.g, evals, ok: true })
  let prev: Pt = { a: 0, x, f: f0, g: g0, dg: dg0 }
  let a = alpha1
  let best: Pt | undefined
  const zoom = async (lo: Pt, hi: Pt): Promise<LineResult> => {
    for (;;) {
      if (evals >= maxEvals || Math.abs(hi.a - lo.a) < 1e-16) {
        return { alpha: lo.a, x: lo.x, f: lo.f, g: lo.g, evals, ok: lo.a > 0 }
      }
      const aj = cubicMin(lo.a, lo.f, lo.dg, hi.a, hi.f, hi.dg)
      const pj = await at(aj)
      if (approxWolfe(pj)) return done(pj)
      if (!Number.isFinite(pj.f) || pj.f > f0 + c1 * aj * dg0 || pj.f >= lo.f) {
        hi = pj
      } else {
        if (Math.abs(pj.dg) <= -c2 * dg0) return { alpha: aj, x: pj.x, f: pj.f, g: pj.g, evals, ok: true }
        if (pj.dg * (hi.a - lo.a) >= 0) hi = lo
        lo = pj
      }
    }
  }
  for (let i = 0; ; i++) {
    const p = await at(a)
    if (approxWolfe(p)) return done(p)
    if (!Number.isFinite(p.f) || p.f > f0 + c1 * a * dg0 || (i > 0 && p.f >= prev.f)) return zoom(prev, p)
    if (Math.abs(p.dg) <= -c2 * dg0) return { alpha: a, x: p.x, f: p.f, g: p.g, evals, ok: true }
    if (p.dg >= 0) return zoom(p, prev)
    best = p
    prev = p
    if (evals >= maxEvals) return { alpha: best.a, x: best.x, f: best.f, g: best.g, evals, ok: true }
    a *= 2
  }
}

/**
 * Limited-memory BFGS (Nocedal & Wright, Algorithm 7.5: two-loop recursion, H0 = gamma I with
 * gamma = s^T y / y^T y) with a strong-Wolfe line search. Returns the minimiser, starting from
 * `w0` (a warm start).
 */
export async function lbfgs(fg: Objective, w0: Float64Array, opts: LbfgsOptions = {}): Promise<{ w: Float64Array; info: SolveInfo }> {
  const maxIter = opts.maxIter ?? 300
  const m = opts.memory ?? 10
  const gradTol = opts.gradTol ?? 1e-6
  const relTol = opts.relTol ?? 1e-10
  const phase = opts.phase ?? 'lbfgs'
  const check = () => {
    if (opts.signal?.aborted) throw new CancelledError(phase)
  }
  check()
  let x: Float64Array = Float64Array.from(w0)
  let { loss: f, grad: g } = await fg(x)
  let evaluations = 1
  const S: Float64Array[] = []
  const Y: Float64Array[] = []
  const RHO: number[] = []
  let iter = 0
  let reason = 'max iterations'
  let converged = false
  if (normInf(g) <= gradTol) {
    return { w: x, info: { iterations: 0, evaluations, loss: f, gradNorm: normInf(g), converged: true, reason: 'gradient tolerance' } }
  }
  while (iter < maxIter) {
    check()
    // Two-loop recursion: d = -H g.
    const q = Float64Array.from(g)
    const alphas = new Array<number>(S.length)
    for (let i = S.length - 1; i >= 0; i--) {
      const a = RHO[i]! * dot(S[i]!, q)
      alphas[i] = a
      const y = Y[i]!
      for (let j = 0; j < q.length; j++) q[j]! -= a * y[j]!
    }
    const M = opts.precond
    let gamma = 1
    if (S.length > 0) {
      const l = S.length - 1
      const my = Float64Array.from(Y[l]!)
      applyPrecond(M, my)
      gamma = dot(S[l]!, Y[l]!) / dot(Y[l]!, my)
    }
    applyPrecond(M, q)
    for (let j = 0; j < q.length; j++) q[j]! *= gamma
    for (let i = 0; i < S.length; i++) {
      const beta = RHO[i]! * dot(Y[i]!, q)
      const s = S[i]!
      const a = alphas[i]!
      for (let j = 0; j < q.length; j++) q[j]! += s[j]! * (a - beta)
    }
    const d = q
    for (let j = 0; j < d.length; j++) d[j] = -d[j]!
    let dg = dot(d, g)
    if (!(dg < 0)) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      S.length = Y.length = RHO.length = 0
      for (let j = 0; j < d.length; j++) d[j] = -g[j]!
      dg = dot(d, g)
    }
    // First step: a unit step along -g can be far too long; scale it to |step|_inf = 1/..., as
    // common implementations do.
    const a0 = S.length === 0 ? Math.min(1, 1 / Math.max(1e-12, normInf(d))) : 1
    const ls = await strongWolfe(fg, x, f, g, d, a0)
    evaluations += ls.evals
    iter++
    if (!ls.ok) {
      if (S.length > 0) {
        // Drop the history and retry along steepest descent once before giving up.
        S.length = Y.length = RHO.length = 0
        continue
      }
      reason = 'line search found no decrease (engine precision reached)'
      break
    }
    const s = new Float64Array(x.length)
    const y = new Float64Array(x.length)
    for (let j = 0; j < x.length; j++) {
      s[j] = ls.x[j]! - x[j]!
      y[j] = ls.g[j]! - g[j]!
    }
    const sy = dot(s, y)
    const fPrev = f
    x = ls.x
    f = ls.f
    g = ls.g
    if (sy > 1e-12 * Math.sqrt(dot(y, y) * dot(s, s))) {
      S.push(s)
      Y.push(y)
      RHO.push(1 / sy)
      if (S.length > m) {
        S.shift()
        Y.shift()
        RHO.shift()
      }
    }
    const gn = normInf(g)
    opts.progress?.({ phase, done: iter, total: maxIter, message: `loss ${f.toPrecision(6)} |g| ${gn.toExponential(2)}` })
    if (gn <= gradTol) {
      reason = 'gradient tolerance'
      converged = true
      break
    }
    if (Math.abs(fPrev - f) <= relTol * Math.max(Math.abs(fPrev), Math.abs(f), 1)) {
      reason = 'relative loss change'
      converged = true
      break
    }
  }
  return { w: x, info: { iterations: iter, evaluations, loss: f, gradNorm: normInf(g), converged, reason } }
}

export interface SgdOptions {
  /** Epochs (default 200, the paper's recipe). */
  epochs?: number
  batchSize?: number
  /** Initial learning rate (default 0.05), multiplied by `decay` after every epoch (default 0.98). */
  lr?: number
  decay?: number
  momentum?: number
  seed?: number
  signal?: AbortSignal
  progress?: Progress
  phase?: string
  /** Called after every epoch with the current weights (e.g. to record a validation curve). */
  onEpoch?: (epoch: number, w: Float64Array) => void | Promise<void>
}

/**
 * The paper's recipe (Jeong & Chung, Appendix; the authors' code): mini-batch SGD with momentum
 * in PyTorch's form (v <- mu v + g; w <- w - lr v), where g includes the weight decay lambda w
 * (equivalent to the lambda/2 |W|^2 term), batch 128, lr 0.05 x 0.98 per epoch, 200 epochs,
 * the rows shuffled every epoch with a seeded generator (deterministic for a given seed).
 */
export async function sgd(
  problem: LinearProblem,
  lambda: number,
  w0: Float64Array,
  opts: SgdOptions = {},
): Promise<{ w: Float64Array; info: SolveInfo }> {
  const epochs = opts.epochs ?? 200
  const bs = opts.batchSize ?? 128
  const decay = opts.decay ?? 0.98
  const mu = opts.momentum ?? 0.9
  const phase = opts.phase ?? 'sgd'
  let lr = opts.lr ?? 0.05
  const rng = createRng(opts.seed ?? 0)
  const n = problem.n
  const perm = new Int32Array(n)
  for (let i = 0; i < n; i++) perm[i] = i
  const w = Float64Array.from(w0)
  const v = new Float64Array(w.length)
  let evaluations = 0
  let lastLoss = NaN
  let lastGrad = NaN
  for (let e = 0; e < epochs; e++) {
    // Fisher-Yates shuffle.
    for (let i = n - 1; i > 0; i--) {
      const j = rng.int(i + 1)
      const t = perm[i]!
      perm[i] = perm[j]!
      perm[j] = t
    }
    let sum = 0
    for (let s = 0; s < n; s += bs) {
      if (opts.signal?.aborted) throw new CancelledError(phase)
      const rows = perm.subarray(s, Math.min(n, s + bs))
      const { loss, grad } = await problem.lossGrad(w, lambda, rows)
      evaluations++
      sum += loss * rows.length
      for (let j = 0; j < w.length; j++) {
        v[j] = mu * v[j]! + grad[j]!
        w[j]! -= lr * v[j]!
      }
      lastGrad = normInf(grad)
    }
    lastLoss = sum / n
    lr *= decay
    opts.progress?.({ phase, done: e + 1, total: epochs, message: `epoch loss ${lastLoss.toPrecision(6)}` })
    await opts.onEpoch?.(e + 1, w)
  }
  return { w, info: { iterations: epochs, evaluations, loss: lastLoss, gradNorm: lastGrad, converged: false, reason: 'epochs done' } }
}
