/**
 * Label refinement on arrays (Jeong & Chung, ICLR 2025): the teacher, multi-round
 * self-distillation, the top-2 partial-label (PLL) student, and confident learning as a second
 * opinion; with lambda, the PLL loss and the method chosen by held-out validation on the given
 * labels by default (selection.ts).
 */
import { CancelledError } from '../jobs/progress.ts'
import { confidentLearning } from './cl.ts'
import {
  computeStandardization,
  createEngine,
  LinearProblem,
  predictModel,
  selectRows,
  type ComputeEngine,
  type LinearModel,
  type Standardization,
} from './engine.ts'
import { accuracy, diagonalPreconditioner, fitTargets, oneHot, topTwo, twoHotTopTwo, type FitOptions } from './fit.ts'
import { ROTATE_MAX_DIMS, shouldReduce, shouldRotate, spectralBasis, standardized } from './reduce.ts'
import {
  AUTO_CANDIDATES,
  DEFAULT_SELECTION_ROWS,
  FIT_GRAD_TOL,
  FIT_MAX_ITER,
  FIT_REL_TOL,
  kFold,
  selectByValidation,
  selectionRowIndices,
  type Candidate,
  type SelectionResult,
} from './selection.ts'
import type { SolveInfo } from './solvers.ts'
import {
  liftFromSubspace,
  principalSubspace,
  projectOnto,
  searchGap,
  spectralPreconditioner,
  SUBSPACE_DIMS,
  type PrincipalSubspace,
} from './subspace.ts'
import type { FeatureMatrix, Method, PllLoss, RefineMethod, RefineOptions, RefineResult, RefineWeights } from './types.ts'

/** Fixed lambda used when a caller turns selection off without naming one (the BENCHMARKS prototype's value). */
export const DEFAULT_FIXED_LAMBDA = 5e-4

function checkInputs(x: FeatureMatrix, y: Int32Array, k: number): void {
  if (!Number.isInteger(k) || k < 2) throw new Error(`refine: need at least 2 classes, got ${k}`)
  if (x.data.length !== x.n * x.d) throw new Error(`refine: feature matrix has ${x.data.length} values, expected ${x.n} x ${x.d}`)
  if (y.length !== x.n) throw new Error(`refine: ${y.length} labels for ${x.n} feature rows`)
  if (x.n < 2) throw new Error(`refine: need at least 2 labelled samples, got ${x.n}`)
  for (let i = 0; i < y.length; i++) {
    if (!(y[i]! >= 0 && y[i]! < k)) throw new Error(`refine: label ${y[i]} of row ${i} is outside 0..${k - 1}`)
  }
  for (let i = 0; i < x.data.length; i++) {
    if (!Number.isFinite(x.data[i]!)) throw new Error(`refine: feature row ${Math.floor(i / x.d)} has a non-finite value`)
  }
}

function fitOptions(opts: RefineOptions): FitOptions {
  return {
    solver: opts.solver ?? 'lbfgs',
    maxIter: opts.maxIter ?? FIT_MAX_ITER,
    gradTol: FIT_GRAD_TOL,
    relTol: FIT_REL_TOL,
    epochs: opts.epochs,
    seed: opts.seed ?? 0,
    signal: opts.signal,
    progress: opts.progress,
  }
}

/** The candidates selection must score for a method (and whether any selection is needed). */
function candidatesFor(method: RefineMethod, opts: RefineOptions): Candidate[] {
  if (method === 'auto') {
    const rounds = opts.maxRounds ?? 2
    const pll: Candidate[] =
      opts.pllLoss === 'ce' ? ['pll-ce'] : opts.pllLoss === 'gce' ? ['pll-gce'] : AUTO_CANDIDATES.filter((c) => c.startsWith('pll'))
    return ['teacher', ...Array.from({ length: rounds }, (_, i) => `sd${i + 1}` as Candidate), ...pll]
  }
  if (method === 'sd') return [`sd${opts.rounds ?? 1}`]
  if (method === 'pll') {
    const l = opts.pllLoss ?? 'auto'
    return l === 'auto' ? ['pll-ce', 'pll-gce'] : [`pll-${l}`]
  }
  return ['teacher']
}

/** Builds the per-sample outputs shared by every method. */
function finish(
  method: Method,
  y: Int32Array,
  k: number,
  probs: Float32Array,
  refined: Int32Array,
  certainty: Float32Array,
): Pick<RefineResult, 'probs' | 'refined' | 'confidence' | 'top1' | 'top1Prob' | 'top2' | 'top2Prob' | 'flagged' | 'rank'> {
  const n = y.length
  const tt = topTwo(probs, k)
  const confidence = new Float32Array(n)
  const flagged = new Uint8Array(n)
  const order: number[] = []
  for (let i = 0; i < n; i++) {
    confidence[i] = probs[i * k + refined[i]!]!
    if (refined[i] !== y[i]) {
      flagged[i] = 1
      order.push(i)
    }
  }
  // Most certain first; ties by row for a stable order.
  order.sort((a, b) => certainty[b]! - certainty[a]! || a - b)
  const rank = new Int32Array(n)
  order.forEach((i, r) => (rank[i] = r + 1))
  void method
  return { probs, refined, confidence, ...tt, flagged, rank }
}

function infoOf(i: SolveInfo): Record<string, unknown> {
  return { iterations: i.iterations, evaluations: i.evaluations, loss: i.loss, gradNorm: i.gradNorm, converged: i.converged, reason: i.reason }
}

function selectionDetails(sel: SelectionResult): Record<string, unknown> {
  return {
    rows: sel.rows,
    folds: sel.folds,
    reduced: sel.reduced,
    fits: sel.fits,
    evaluations: sel.evaluations,
    evaluationsBy: sel.evaluationsBy,
    ms: sel.ms,
    rule: sel.rule,
    tolerance: sel.tolerance,
    reason: sel.reason,
    best: sel.best,
    candidates: sel.candidates,
    winner: sel.winner,
    top: sel.top,
    noise: sel.noise,
    clean: sel.clean,
    warnings: sel.warnings,
    grid: sel.grid,
    visited: sel.visited,
    scores: sel.scores.map((s) => ({ candidate: s.candidate, lambda: s.lambda, score: s.score })),
  }
}

/** The method, SD rounds and PLL loss a selection candidate stands for. */
export function candidateMethod(c: Candidate): { method: Method; rounds?: number; pllLoss?: PllLoss } {
  if (c.startsWith('sd')) return { method: 'sd', rounds: Number(c.slice(2)) }
  if (c === 'pll-ce') return { method: 'pll', pllLoss: 'ce' }
  if (c === 'pll-gce') return { method: 'pll', pllLoss: 'gce' }
  return { method: 'teacher' }
}

/**
 * Where the fits run: x itself, or its exact row-space reduction when there are fewer rows than
 * dimensions (reduce.ts). `toModel` turns a fitted model of the work space into one on the
 * original features, for predictions on other samples.
 */
interface Work {
  x: FeatureMatrix
  std?: Standardization
  /** Whether fits run in another (exact) basis than x: the row-space reduction or the eigenbasis rotation. */
  reduced: boolean
  basis?: 'reduced' | 'rotated'
  toModel(m: LinearModel): LinearModel
  /**
   * Where no exact basis applies and d > ROTATE_MAX_DIMS (subspace.ts): the leading principal
   * subspace of x, for the spectral preconditioner, and x projected onto it, where the lambda and
   * method search runs.
   */
  subspace?: PrincipalSubspace
  search?: FeatureMatrix
  /** `search` holds only selection's rows (`selectionRowIndices`), and the subspace was computed from them. */
  searchSampled?: boolean
}

/**
 * Whether the principal subspace (search projection and spectral preconditioner) is used for an
 * n x d matrix: where no exact basis applies (d > ROTATE_MAX_DIMS), and where the exact rotation
 * would apply but selection subsamples (n > selectionRows) and the subspace is at most half of d.
 * There the rotation costs products with all n rows and a d x d eigendecomposition in JS (about
 * 7 s on 60k x 784: transpose 2 s, Gram 0.6 s, eigendecomposition 3.4 s, rotation 1.5 s), while the
 * subspace of the selection rows costs about 2 s, and the search runs on m instead of d columns.
 */
export function usesSubspace(n: number, d: number, selectionRows = DEFAULT_SELECTION_ROWS): boolean {
  if (shouldReduce(n, d)) return false
  if (!shouldRotate(n, d)) return d > ROTATE_MAX_DIMS
  return n > selectionRows && d >= 2 * SUBSPACE_DIMS
}

/** Principal subspaces of matrices seen before (the same caching rule as `bases`). */
const subspaces = new WeakMap<Float32Array, { sub: PrincipalSubspace; search: FeatureMatrix; rowsKey: string }>()

/** Bases of matrices seen before (the demo fits three methods on one training set). */
const bases = new WeakMap<Float32Array, Awaited<ReturnType<typeof spectralBasis>>>()

/**
 * Principal subspaces by the caller's key for the feature space (RefineOptions.subspaceKey), kept
 * for the last few keys: a refresh after review decisions reloads the same project's features
 * (a new array, sometimes with a few rows fewer) and needs no new subspace. Reusing one is safe:
 * the subspace only preconditions and warm-starts the final fit (same optimum) and sets where the
 * search runs.
 */
const keyedSubspaces = new Map<string, PrincipalSubspace>()
const KEYED_SUBSPACES_KEPT = 4

async function prepareWork(
  engine: ComputeEngine,
  x: FeatureMatrix,
  std: Standardization | undefined,
  useSubspace: boolean,
  key?: string,
  selection: { rows?: number; seed: number } = { seed: 0 },
): Promise<Work> {
  const selRows = selection.rows ?? DEFAULT_SELECTION_ROWS
  if (useSubspace && usesSubspace(x.n, x.d, selRows)) {
    // When selection subsamples, the subspace and the search matrix come from its rows only: the
    // search needs no other row, and the subspace of a random sample of 10k rows preconditions the
    // full fit about as well as that of all rows (same optimum either way).
    const rows = selectionRowIndices(x.n, selRows, selection.seed)
    const rowsKey = rows ? `${selRows}:${selection.seed}` : 'all'
    let s = std ? undefined : subspaces.get(x.data)
    if (!s || s.rowsKey !== rowsKey) {
      const xs = std ? standardized(x, std) : x
      const basisX = rows ? selectRows(xs, rows) : xs
      const fullKey = key === undefined ? undefined : `${key}|${std ? 'std' : 'raw'}`
      const known = fullKey === undefined ? undefined : keyedSubspaces.get(fullKey)
      const sub = known && known.d === x.d ? known : await principalSubspace(engine, basisX)
      if (fullKey !== undefined) {
        keyedSubspaces.delete(fullKey)
        keyedSubspaces.set(fullKey, sub)
        while (keyedSubspaces.size > KEYED_SUBSPACES_KEPT) keyedSubspaces.delete(keyedSubspaces.keys().next().value!)
      }
      s = { sub, search: await projectOnto(engine, basisX, sub), rowsKey }
      if (!std) subspaces.set(x.data, s)
    }
    return { x, std, reduced: false, toModel: (m) => m, subspace: s.sub, search: s.search, searchSampled: rows !== undefined }
  }
  if (!shouldReduce(x.n, x.d) && !shouldRotate(x.n, x.d)) return { x, std, reduced: false, toModel: (m) => m }
  let basis = std ? undefined : bases.get(x.data)
  if (basis === undefined) {
    basis = await spectralBasis(engine, std ? standardized(x, std) : x)
    if (!std) bases.set(x.data, basis)
  }
  if (!basis) return { x, std, reduced: false, toModel: (m) => m }
  const r = basis.red
  return {
    x: r.f,
    reduced: true,
    basis: basis.kind,
    toModel: (m) => ({ d: x.d, k: m.k, bias: m.bias, std, w: r.lift(m.w, m.k) }),
  }
}

/**
 * Where the teacher's fit starts: zero, or with a principal subspace (subspace.ts) the teacher fitted
 * on the projected features at the same lambda, lifted (W = V W'). The teacher's objective is
 * strictly convex, so the start changes only the time; the restricted fit costs a fraction of one
 * full-dimensional iteration per iteration (m instead of d columns).
 */
async function teacherStart(
  engine: ComputeEngine,
  work: Work,
  problem: LinearProblem,
  y: Int32Array,
  k: number,
  lambda: number,
  bias: boolean,
  fo: FitOptions,
): Promise<Float64Array> {
  if (!work.subspace || !work.search || (fo.solver ?? 'lbfgs') !== 'lbfgs' || work.search.n !== y.length) return new Float64Array(problem.size)
  const small = new LinearProblem(await engine.load(work.search, k), bias)
  try {
    const r = await fitTargets(
      small,
      oneHot(y, k),
      'ce',
      lambda,
      new Float64Array(small.size),
      { ...fo, progress: undefined, precond: diagonalPreconditioner(work.search, k, lambda) },
      'teacher (principal subspace)',
    )
    return liftFromSubspace(work.subspace, r.w, k)
  } finally {
    await small.dispose()
  }
}

/**
 * Runs one refinement method on a labelled feature matrix (every row must have a label in
 * 0..k-1; the caller leaves unlabelled samples out and decides which label a row carries: for a
 * project, train/project.ts gives audited rows their trusted label).
 */
export async function refineArrays(x: FeatureMatrix, y: Int32Array, k: number, opts: RefineOptions): Promise<RefineResult> {
  const t0 = Date.now()
  const method = opts.method
  if (!['auto', 'teacher', 'sd', 'pll', 'cl'].includes(method)) throw new Error(`refine: unknown method '${String(method)}'`)
  if (method === 'sd' && !(Number.isInteger(opts.rounds ?? 1) && (opts.rounds ?? 1) >= 1 && (opts.rounds ?? 1) <= 10)) {
    throw new Error(`refine: sd rounds must be an integer in 1..10, got ${opts.rounds}`)
  }
  checkInputs(x, y, k)
  const signal = opts.signal
  if (signal?.aborted) throw new CancelledError('refine')
  if (opts.crossFit && method !== 'cl') return crossFitted(x, y, k, opts, t0)
  const engine = await createEngine(opts.engine ?? 'ort', { executionProvider: opts.executionProvider })
  try {
    return await run(engine, x, y, k, opts, t0)
  } catch (e) {
    await engine.dispose()
    throw e
  }
}

async function run(engine: ComputeEngine, x: FeatureMatrix, y: Int32Array, k: number, opts: RefineOptions, t0: number): Promise<RefineResult> {
  const n = x.n
  const bias = opts.bias ?? false
  const std = opts.standardize ? computeStandardization(x) : undefined
  const seed = opts.seed ?? 0
  const solver = opts.solver ?? 'lbfgs'
  const fo = fitOptions(opts)
  const timings: Record<string, number> = {}
  const details: Record<string, unknown> = { engine: engine.backend }
  const chosen: Record<string, unknown> = { solver, engine: engine.name, bias, standardize: !!opts.standardize }

  // 0. Fewer rows than dimensions: the exact row-space reduction (same optimum, smaller matrix).
  let ts = Date.now()
  const work = await prepareWork(engine, x, std, solver === 'lbfgs' && opts.subspace !== false, opts.subspaceKey, {
    rows: opts.selectionRows,
    seed,
  })
  if (work.reduced || work.subspace) timings.reduce = Date.now() - ts
  chosen.reduced = work.basis === 'reduced'
  if (work.basis) chosen.basis = work.basis
  const wx = work.x

  // 1. Selection (the method for auto, lambda, the PLL loss) on the given labels only.
  const lambdaOpt = opts.lambda ?? 'auto'
  const candidates = candidatesFor(opts.method, opts)
  let method: Method = opts.method === 'auto' ? 'teacher' : opts.method
  let rounds = opts.rounds ?? 1
  let lambda = typeof lambdaOpt === 'number' ? lambdaOpt : DEFAULT_FIXED_LAMBDA
  let pllLoss: PllLoss = opts.pllLoss && opts.pllLoss !== 'auto' ? opts.pllLoss : 'gce'
  if (!(lambda >= 0) || !Number.isFinite(lambda)) throw new Error(`refine: lambda must be a finite number >= 0, got ${lambdaOpt}`)
  if (lambdaOpt === 'auto' || candidates.length > 1) {
    ts = Date.now()
    const sel = await selectByValidation(engine, x, y, k, {
      candidates,
      lambdas: typeof lambdaOpt === 'number' ? [lambdaOpt] : opts.lambdas,
      folds: opts.folds ?? 3,
      maxRows: opts.selectionRows,
      maxIter: opts.selectionMaxIter ?? fo.maxIter,
      lambdaScaling: opts.selectionLambdaScaling,
      methodRule: opts.methodRule,
      seed,
      bias,
      std,
      prepared: work.search
        ? { x: work.search, reduced: false, sampled: work.searchSampled }
        : { x: wx, std: work.std, reduced: work.basis === 'reduced' },
      ...(opts.cleanRows ? { clean: opts.cleanRows } : {}),
      signal: opts.signal,
      progress: opts.progress,
    })
    timings.select = Date.now() - ts
    lambda = sel.winner.lambda
    const cm = candidateMethod(sel.winner.candidate)
    if (opts.method === 'auto') {
      method = cm.method
      if (cm.rounds !== undefined) rounds = cm.rounds
    }
    if (cm.pllLoss) pllLoss = cm.pllLoss
    details.selection = selectionDetails(sel)
    if (work.subspace) {
      const sub = work.subspace
      const energy = sub.values.reduce((a, b) => a + b, 0) / Math.max(1e-300, sub.trace)
      const where = `Scores computed on the leading ${sub.m} principal directions of the ${x.d}-d features (${(100 * energy).toFixed(1)}% of their energy); the final fit uses all ${x.d}.`
      details.selection = { ...(details.selection as object), searchSpace: { dims: sub.m, of: x.d, energy }, reason: `${sel.reason}. ${where}` }
    }
  }
  chosen.method = method
  chosen.methodSource = opts.method === 'auto' ? 'validation' : 'fixed'
  chosen.lambda = lambda
  chosen.lambdaSource = lambdaOpt === 'auto' ? 'validation' : (opts.lambdaSource ?? 'fixed')
  if (method === 'pll') {
    chosen.pllLoss = pllLoss
    chosen.pllLossSource = opts.method === 'auto' || (opts.pllLoss ?? 'auto') === 'auto' ? 'validation' : 'fixed'
  }
  if (method === 'sd') chosen.rounds = rounds

  if (method === 'cl') return runCl(engine, work, y, k, opts, { lambda, bias, std: work.std, fo, timings, details, chosen, t0 })

  // 2. The teacher on the given labels. With the SGD recipe and its validation stopping rule, the
  // fits see all but one fold, and that fold's given labels pick the epoch (selection.ts explains
  // why agreement with held-out noisy labels is an honest criterion).
  const sgdStop = solver === 'sgd' ? (opts.sgdStop ?? 'validation') : undefined
  let fitX = wx
  let fitY = y
  // Rows of the fit whose label is fixed (RefineOptions.fixedRows): the PLL student gets its one-hot.
  let fixedFit = opts.fixedRows?.some((v) => v === 1) ? opts.fixedRows : undefined
  if (fixedFit && fixedFit.length !== n) throw new Error(`refine: fixedRows has ${fixedFit.length} entries for ${n} samples`)
  const clampTargets = (t: Float32Array): Float32Array => {
    if (!fixedFit) return t
    const out = Float32Array.from(t)
    for (let i = 0; i < fixedFit.length; i++) {
      if (!fixedFit[i]) continue
      out.fill(0, i * k, (i + 1) * k)
      out[i * k + fitY[i]!] = 1
    }
    return out
  }
  let stopper: ((phase: string) => EpochKeeper) | undefined
  if (sgdStop === 'validation') {
    const fold = kFold(n, opts.folds ?? 5, seed)[0]!
    // Rows a person settled (fixedRows) are always trained on: the held-out fold only picks the epoch.
    const settled = (i: number) => fixedFit![i] === 1
    const train = fixedFit ? Int32Array.from([...fold.train, ...fold.heldOut.filter(settled)]) : fold.train
    const heldOut = fixedFit ? fold.heldOut.filter((i) => !settled(i)) : fold.heldOut
    fitX = selectRows(wx, train)
    fitY = Int32Array.from(train, (i) => y[i]!)
    if (fixedFit) fixedFit = Uint8Array.from(train, (i) => opts.fixedRows![i]!)
    const xh = selectRows(wx, heldOut)
    const yh = Int32Array.from(heldOut, (i) => y[i]!)
    const stops: Record<string, number> = {}
    details.sgdStopping = { rule: 'best epoch on a held-out fold of the given labels', heldOut: heldOut.length, epochs: stops }
    stopper = (phase) => {
      const keep: EpochKeeper = {
        best: -1,
        epoch: 0,
        w: undefined,
        onEpoch: async (epoch, w) => {
          const a = accuracy(await predictModel(engine, { d: wx.d, k, bias, std: work.std, w }, xh), yh, k)
          if (a > keep.best) {
            keep.best = a
            keep.epoch = epoch
            keep.w = Float64Array.from(w)
          }
          stops[phase] = keep.epoch
        },
      }
      return keep
    }
  }
  chosen.sgdStop = sgdStop
  const precond =
    solver !== 'lbfgs'
      ? undefined
      : work.subspace
        ? spectralPreconditioner(work.subspace, work.subspace.rows, k, lambda)
        : diagonalPreconditioner(fitX, k, lambda, work.std)
  if (work.subspace && work.search) {
    const sub = work.subspace
    details.subspace = {
      dims: sub.m,
      of: x.d,
      energy: sub.values.reduce((a, b) => a + b, 0) / Math.max(1e-300, sub.trace),
      gap: searchGap(sub, sub.rows, lambda),
    }
  }
  const fitWith = async (targets: Float32Array, loss: 'ce' | 'gce', w0: Float64Array, extra: Partial<FitOptions>, phase: string) => {
    const keep = stopper?.(phase)
    const r = await fitTargets(problem, targets, loss, lambda, w0, { ...fo, precond, ...extra, onEpoch: keep?.onEpoch }, phase)
    return keep?.w ? { w: keep.w, info: { ...r.info, reason: `best held-out epoch ${keep.epoch}` } } : r
  }
  const problem = new LinearProblem(await engine.load(fitX, k), bias, work.std)
  let model: LinearModel
  let probs: Float32Array
  let weights: RefineWeights | undefined
  try {
    ts = Date.now()
    // A warm start (RefineOptions.warmStart) applies to L-BFGS fits on all rows only.
    const warm = solver === 'lbfgs' && fitX === wx && opts.warmStart?.teacher.length === problem.size ? opts.warmStart : undefined
    const t0w = warm ? Float64Array.from(warm.teacher) : await teacherStart(engine, work, problem, fitY, k, lambda, bias, fo)
    const teacher = await fitWith(oneHot(fitY, k), 'ce', t0w, {}, 'teacher')
    const teacherProbs = await problem.probs(teacher.w)
    timings.teacher = Date.now() - ts
    details.teacher = { ...infoOf(teacher.info), trainAgreement: accuracy(teacherProbs, fitY, k) }
    model = problem.model(teacher.w)
    probs = teacherProbs
    let finalW = teacher.w
    if (method === 'sd') {
      // 3a. Round i trains on round i-1's softmax outputs on the training set (Sec. 3). The
      // objective is strictly convex for lambda > 0, so L-BFGS warm-starts from the previous
      // round (same optimum, less time); the SGD recipe starts from scratch as the paper does.
      ts = Date.now()
      const perRound: Record<string, unknown>[] = []
      let w = warm?.final.length === problem.size ? Float64Array.from(warm.final) : teacher.w
      for (let r = 1; r <= rounds; r++) {
        const w0 = solver === 'lbfgs' ? w : new Float64Array(problem.size)
        // Fixed rows keep the teacher's outputs here: the teacher trained on their label, and a
        // one-hot target among soft ones drags a CE student's boundary (RefineOptions.fixedRows).
        const s = await fitWith(probs, 'ce', w0, { seed: (fo.seed ?? 0) + r }, `sd round ${r}`)
        w = s.w
        probs = await problem.probs(w)
        perRound.push({ round: r, ...infoOf(s.info), trainAgreement: accuracy(probs, fitY, k) })
      }
      model = problem.model(w)
      finalW = w
      timings.sd = Date.now() - ts
      details.sd = perRound
    } else if (method === 'pll') {
      // 3b. Candidate set = the teacher's top-2; target (1/2, 1/2) on it (Sec. 5). GCE starts
      // from the teacher's weights as the authors' code does; CE is convex (start irrelevant for
      // L-BFGS, from scratch for SGD).
      ts = Date.now()
      const t2 = clampTargets(twoHotTopTwo(teacherProbs, k))
      const w0 =
        warm?.final.length === problem.size
          ? Float64Array.from(warm.final)
          : pllLoss === 'gce' || solver === 'lbfgs'
            ? teacher.w
            : new Float64Array(problem.size)
      const s = await fitWith(t2, pllLoss, w0, { seed: (fo.seed ?? 0) + 1 }, 'pll')
      probs = await problem.probs(s.w)
      model = problem.model(s.w)
      finalW = s.w
      timings.pll = Date.now() - ts
      details.pll = { ...infoOf(s.info), trainAgreement: accuracy(probs, fitY, k) }
    }
    details.evaluations = problem.evaluations
    if (solver === 'lbfgs' && fitX === wx) weights = { teacher: teacher.w, final: finalW }
    if (warm) details.warmStart = true
    if (fixedFit) details.fixedRows = fixedFit.reduce((a, b) => a + b, 0)
  } finally {
    await problem.dispose()
  }
  // Fitted on a subset (SGD stopping rule): outputs for every training row from the final model.
  if (fitX !== wx) probs = await predictModel(engine, model, wx)
  const refined = topTwo(probs, k).top1
  const certainty = new Float32Array(n)
  for (let i = 0; i < n; i++) certainty[i] = probs[i * k + refined[i]!]!
  timings.total = Date.now() - t0
  details.engine = engine.backend // after the fits: records a CPU fallback
  const finalModel = work.toModel(model)
  return {
    method,
    n,
    k,
    ...finish(method, y, k, probs, refined, certainty),
    chosen,
    details,
    timings,
    predict: (xo) => predictModel(engine, finalModel, xo),
    ...(weights ? { weights } : {}),
  }
}

interface EpochKeeper {
  best: number
  epoch: number
  w: Float64Array | undefined
  onEpoch: (epoch: number, w: Float64Array) => Promise<void>
}

/**
 * Out-of-fold refinement: the options' method on all samples once (to choose lambda and the PLL
 * loss on the given labels, as usual), then on each of `folds` folds' complements with those
 * choices fixed; a sample's probabilities are those of the model that was trained without it.
 * Other samples get the mean of the fold models' probabilities.
 */
async function crossFitted(x: FeatureMatrix, y: Int32Array, k: number, opts: RefineOptions, t0: number): Promise<RefineResult> {
  const n = x.n
  const folds = Math.max(2, Math.min(opts.folds ?? 5, n))
  const base = { ...opts, crossFit: false, progress: undefined }
  const full = await refineArrays(x, y, k, base)
  const fixed: RefineOptions = {
    ...base,
    method: full.method,
    ...(full.chosen.rounds !== undefined ? { rounds: full.chosen.rounds as number } : {}),
    lambda: full.chosen.lambda as number,
    lambdaSource: String(full.chosen.lambdaSource ?? 'fixed'),
    ...(full.chosen.pllLoss ? { pllLoss: full.chosen.pllLoss as PllLoss } : {}),
  }
  const probs = new Float32Array(n * k)
  const models: RefineResult[] = []
  const parts = kFold(n, folds, opts.seed ?? 0)
  for (let f = 0; f < parts.length; f++) {
    if (opts.signal?.aborted) throw new CancelledError('refine')
    const { train, heldOut } = parts[f]!
    opts.progress?.({ phase: 'cross-fit', done: f, total: parts.length, message: `fold ${f + 1}/${parts.length}` })
    // Per-row options follow the fold's rows; a warm start belongs to the full matrix only.
    const { fixedRows, cleanRows, warmStart: _warm, ...rest } = fixed
    const foldOpts: RefineOptions = {
      ...rest,
      ...(fixedRows ? { fixedRows: Uint8Array.from(train, (i) => fixedRows[i]!) } : {}),
      ...(cleanRows ? { cleanRows: Uint8Array.from(train, (i) => cleanRows[i]!) } : {}),
    }
    const r = await refineArrays(
      selectRows(x, train),
      Int32Array.from(train, (i) => y[i]!),
      k,
      foldOpts,
    )
    models.push(r)
    const p = await r.predict(selectRows(x, heldOut))
    for (let j = 0; j < heldOut.length; j++) probs.set(p.subarray(j * k, j * k + k), heldOut[j]! * k)
  }
  opts.progress?.({ phase: 'cross-fit', done: parts.length, total: parts.length })
  const refined = topTwo(probs, k).top1
  const certainty = new Float32Array(n)
  for (let i = 0; i < n; i++) certainty[i] = probs[i * k + refined[i]!]!
  return {
    method: full.method,
    n,
    k,
    ...finish(full.method, y, k, probs, refined, certainty),
    chosen: { ...full.chosen, crossFit: true, folds },
    details: { ...full.details, crossFit: { folds } },
    timings: { ...full.timings, total: Date.now() - t0 },
    predict: async (xo) => {
      const out = new Float32Array(xo.n * k)
      for (const m of models) {
        const p = await m.predict(xo)
        for (let i = 0; i < out.length; i++) out[i]! += p[i]! / models.length
      }
      return out
    },
  }
}

interface ClContext {
  lambda: number
  bias: boolean
  std: Standardization | undefined
  fo: FitOptions
  timings: Record<string, number>
  details: Record<string, unknown>
  chosen: Record<string, unknown>
  t0: number
}

/**
 * Confident learning with out-of-sample probabilities from k-fold cross-fitting of the linear
 * probe (cleanlab's `estimate_cv_predicted_probabilities`, default 5 folds).
 */
async function runCl(engine: ComputeEngine, work: Work, y: Int32Array, k: number, opts: RefineOptions, c: ClContext): Promise<RefineResult> {
  const x = work.x
  const n = x.n
  const folds = Math.min(opts.folds ?? 5, n)
  const ts = Date.now()
  const oos = new Float32Array(n * k)
  const models: LinearModel[] = []
  const parts = kFold(n, folds, opts.seed ?? 0)
  for (let f = 0; f < parts.length; f++) {
    const { train, heldOut } = parts[f]!
    const xt = selectRows(x, train)
    const problem = new LinearProblem(await engine.load(xt, k), c.bias, c.std)
    try {
      const yt = Int32Array.from(train, (i) => y[i]!)
      // The same preconditioner as the other methods' fits (same optimum, fewer iterations).
      const precond =
        (c.fo.solver ?? 'lbfgs') !== 'lbfgs'
          ? undefined
          : work.subspace
            ? spectralPreconditioner(work.subspace, work.subspace.rows, k, c.lambda)
            : diagonalPreconditioner(xt, k, c.lambda, c.std)
      const s = await fitTargets(
        problem,
        oneHot(yt, k),
        'ce',
        c.lambda,
        new Float64Array(problem.size),
        { ...c.fo, precond },
        `cl fold ${f + 1}/${folds}`,
      )
      const m = problem.model(s.w)
      models.push(work.toModel(m))
      const p = await predictModel(engine, m, selectRows(x, heldOut))
      for (let r = 0; r < heldOut.length; r++) oos.set(p.subarray(r * k, r * k + k), heldOut[r]! * k)
    } finally {
      await problem.dispose()
    }
  }
  const cl = confidentLearning(oos, y, k)
  c.timings.cl = Date.now() - ts
  c.details.cl = {
    noiseRate: cl.noiseRate,
    thresholds: cl.thresholds,
    confidentJoint: cl.confidentJoint,
    joint: cl.joint,
    prunePerClass: cl.prunePerClass,
    folds,
  }
  c.chosen.folds = folds
  c.details.engine = engine.backend
  c.timings.total = Date.now() - c.t0
  return {
    method: 'cl',
    n,
    k,
    ...finish('cl', y, k, oos, cl.suggested, cl.margin),
    chosen: c.chosen,
    details: c.details,
    timings: c.timings,
    // Other samples: the mean of the fold models' probabilities.
    predict: async (xo) => {
      const out = new Float32Array(xo.n * k)
      for (const m of models) {
        const p = await predictModel(engine, m, xo)
        for (let i = 0; i < out.length; i++) out[i]! += p[i]! / models.length
      }
      return out
    },
  }
}
