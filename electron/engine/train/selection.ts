/**
 * Honest model selection: lambda, the PLL loss and the method are chosen by k-fold validation on
 * held-out NOISY labels only (never the trusted split, never the test set).
 *
 * Why agreement with held-out noisy labels is a valid criterion: with class-conditional noise
 * P(noisy = j | true = c) = C[c][j], a classifier f that is independent of a held-out sample's
 * noisy label agrees with it with probability
 *   A(f) = sum_c P(c) sum_j P(f = j | c) C[c][j].
 * For symmetric noise this is A = eta/(K-1) + acc(f) * (1 - eta - eta/(K-1)), a strictly
 * increasing function of the clean accuracy acc(f) exactly when 1 - eta > eta/(K-1), i.e. when
 * the true class stays more likely than any single wrong class, the same condition under which
 * SD/PLL can undo the noise (Jeong & Chung, Sec. 4). For asymmetric or superclass noise with a
 * dominant diagonal, moving a prediction from a wrong class j to the true class c gains
 * C[c][c] - C[c][j] > 0, so A still ranks classifiers by clean accuracy up to how their errors
 * are spread. When the noise is not identifiable (a wrong label more likely than the right one),
 * no criterion built on the noisy labels can be trusted, and the validation says nothing useful.
 *
 * What is scored is what is deployed: every fit, in the folds and in the final model, runs L-BFGS
 * to the same convergence tolerance (`FIT_MAX_ITER`, the solver's tolerances); a fold fits fewer
 * rows than the final model, so the grid lambda is rescaled per fold (`lambdaScaling`, below).
 *
 * Cost control: a seeded subsample (default up to `DEFAULT_SELECTION_ROWS` rows), 3 folds whose
 * problems stay loaded, the exact row-space reduction of reduce.ts when rows < dimensions, a
 * lambda path from strong to weak regularisation with each fit warm-started from the previous
 * lambda's solution in the same fold, and a path that ends per candidate once its score has
 * fallen for `patience` consecutive lambdas after its best, or trails its best by more than
 * `separation` paired standard errors (clearly past it), never while its best is still the
 * strongest lambda (near-constant predictions, whose scores can fall before they rise), and
 * stops once every candidate's has ended or fallen for `patience` lambdas (the weakest lambdas
 * are the slowest to fit and are reached only when the scores still improve). A candidate whose
 * path has ended is no longer fitted, except as the input of another (the teacher for every
 * student, SD round r - 1 for round r).
 *
 * The decision rule ('noise-se', default): the top-scoring candidate wins unless a simpler one
 * (list order: teacher, SD rounds, PLL) trails it by at most g x SE, where SE is the paired
 * standard error of the difference of the two candidates' held-out agreement (the same held-out
 * samples score both, so only the samples where they disagree carry information) and g is the
 * estimated compression of agreement by the noise: with P(noisy = j | true = c) = C[c][j],
 * moving one prediction from a wrong class j to the true class c raises agreement by
 * C[c][c] - C[c][j], so agreement differences are accuracy differences shrunk by about
 * g = sum_c P(c) (C[c][c] - max_{j != c} C[c][j]) (0.11 at symmetric 0.8 with K = 10). C is
 * estimated from the teacher's out-of-fold probabilities by confident learning (cl.ts). The
 * tolerance g x SE in agreement is SE in accuracy: the rule gives up at most one standard error of
 * estimated clean accuracy for the simpler method, where the plain one-standard-error rule
 * (Breiman et al.) would give up SE / g, 9 times more at symmetric 0.8.
 *
 * Under heavy noise (g below `HEAVY_NOISE_COMPRESSION`) one paired SE of agreement spans several
 * points of accuracy, and the data cannot rank candidates that close. There the rule keeps, among
 * the candidates within one paired SE of the top, the one that averages labels the most (PLL, then
 * SD rounds, then the teacher): the paper's analysis (Sec. 4-5) and its experiments show more
 * averaging helps most at high noise, and where it hurts (pairwise confusions, where both classes
 * of a pair get the same top-2) PLL falls clearly behind in agreement, outside one SE (tested).
 *
 * Clean rows: when the caller marks rows whose label is clean and was drawn at random (answers of
 * an audit of the whole dataset; SelectionOptions.clean), their held-out accuracy is an unbiased
 * estimate of clean accuracy with no compression. From CLEAN_MIN_ROWS of them the method is chosen
 * by it (the simplest candidate within one paired SE of the most accurate; lambda per candidate
 * still by agreement over all rows, which 200 rows could not resolve), and below that it is only
 * reported. Reviewed flagged samples are clean but not random (they were looked at because the
 * model disagreed with their given label), so they are never marked: accuracy on them would
 * favour whatever disagrees with the given labels.
 */
import { CancelledError, type Progress } from '../jobs/progress.ts'
import { createRng } from '../util/rng.ts'
import { confidentLearning } from './cl.ts'
import { LinearProblem, predictModel, selectRows, type ComputeEngine, type Standardization } from './engine.ts'
import { diagonalPreconditioner, fitTargets, oneHot, twoHotTopTwo, type FitOptions } from './fit.ts'
import { shouldReduce, shouldRotate, spectralBasis, standardized } from './reduce.ts'
import type { FeatureMatrix } from './types.ts'

/**
 * Default lambda grid: 1e-1 down to 1e-5, half-decade steps, searched from the strong end. Under
 * heavy label noise the best lambda sits high (BENCHMARKS.md: 5e-3 for the teacher at symmetric
 * 0.8, 3e-2 and above on small image sets), so the grid reaches 1e-1; the weakest values are the
 * slowest to fit and are reached only when the scores still improve there.
 */
export const DEFAULT_LAMBDAS = [1, 3e-1, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5]

/**
 * Below this estimated compression g the noise counts as heavy for the 'noise-se' rule (module
 * comment). Symmetric noise gives g = 1 - eta - eta / (K - 1): 0.44 at eta = 0.5 and 0.11 at 0.8
 * with K = 10.
 */
export const HEAVY_NOISE_COMPRESSION = 0.25

/**
 * Rows with a clean label from a random draw (an audit of the whole dataset, answered) from which
 * on selection chooses the method by held-out accuracy on them instead of agreement with the
 * noisy labels (module comment, "Clean rows"). 200 rows: a standard error of about 3 points.
 */
export const CLEAN_MIN_ROWS = 200

/**
 * Paired standard errors by which a candidate's latest score must trail its best for its lambda
 * path to end before `patience` runs out (SelectionOptions.separation).
 */
export const DEFAULT_SEPARATION = 2

/** Rows used by selection by default (a seeded subsample when there are more). */
export const DEFAULT_SELECTION_ROWS = 10000

/** L-BFGS iteration cap shared by selection fits and final fits (each stops earlier at the tolerances below). */
export const FIT_MAX_ITER = 1000
/**
 * L-BFGS tolerances shared by selection fits and final fits: |grad|_inf and relative loss change.
 * 1e-5 (was 1e-6): on Fashion-MNIST pixels (60k x 784, tuning seed 0, symmetric 0.8, PLL-GCE at
 * lambda 1e-3) the fit reaches |grad| 1e-5 after about 55 of the 94 iterations 1e-6 takes, and the
 * refined labels then recover the true ones to within 0.01 points of the converged fit (79.33 vs
 * 79.34%); the teacher meets either tolerance in 10-16 iterations.
 */
export const FIT_GRAD_TOL = 1e-5
export const FIT_REL_TOL = 1e-10

/** A candidate refinement: the teacher, SD after r rounds, or the PLL student with a loss. */
export type Candidate = 'teacher' | `sd${number}` | 'pll-ce' | 'pll-gce'

/**
 * The candidates `auto` scores. PLL with plain cross-entropy on (1/2, 1/2) is left out: it lost to
 * the generalised CE by 4 to 13 points in every noise row of BENCHMARKS.md and bench:train (a
 * default chosen after looking at test accuracy; ARCHITECTURE lists it). `--loss ce` still runs it.
 */
export const AUTO_CANDIDATES: Candidate[] = ['teacher', 'sd1', 'sd2', 'pll-gce']

export type MethodRule = 'noise-se' | 'one-se' | 'best'

export interface SelectionOptions {
  /** Candidates to score, simplest first (default: teacher only). */
  candidates?: Candidate[]
  lambdas?: number[]
  folds?: number
  /** Rows used for the selection (a seeded subsample when n is larger; default DEFAULT_SELECTION_ROWS). */
  maxRows?: number
  /** L-BFGS iteration cap per fit (default FIT_MAX_ITER, as in the final fit). */
  maxIter?: number
  seed?: number
  bias?: boolean
  std?: Standardization
  /**
   * How a grid lambda is used on a fold. 'n' (default): the fold's fit uses
   * lambda * n / n_fold, i.e. the total strength n * lambda of the sum-form objective
   * sum_i l_i + (n lambda / 2) |W|^2 is held fixed, so the grid value is the lambda for the final
   * fit on all n rows (a Gaussian prior on W gives exactly that MAP scaling; it is why
   * scikit-learn's C = 1 / (n lambda) carries from cross-validation folds to the full fit).
   * 'none': the fold uses the grid lambda as it is.
   */
  lambdaScaling?: 'n' | 'none'
  /** How the winner is picked (module comment). Default 'noise-se'. */
  methodRule?: MethodRule
  /**
   * A candidate's lambda path ends once it has been below its best for this many lambdas (default
   * 2; 0 = every candidate on the whole grid), and the search once every candidate's has ended.
   */
  patience?: number
  /**
   * A candidate's path also ends once its latest score trails its best by more than this many
   * paired standard errors (default DEFAULT_SEPARATION; 0 = patience alone).
   */
  separation?: number
  /**
   * The matrix to select on, already prepared by the caller from x (the row-space reduction or the
   * eigenbasis rotation, row for row), so its basis is not computed twice. A subsample takes rows
   * of it: both bases are exact for any subset of the rows (reduce.ts).
   */
  prepared?: {
    x: FeatureMatrix
    std?: Standardization
    reduced: boolean
    /** x holds only the selection rows (`selectionRowIndices`, in that order), not all rows. */
    sampled?: boolean
  }
  /**
   * Rows of x whose label in y is clean AND drawn at random (1), e.g. answers of an audit of the
   * whole dataset. With at least CLEAN_MIN_ROWS of them among the selection rows the method is
   * chosen by held-out accuracy on them; with fewer their accuracy is only reported. Rows that are
   * clean but were not drawn at random (reviewed flagged samples) must not be marked: accuracy on
   * them is biased toward whatever disagrees with the given labels.
   */
  clean?: Uint8Array
  signal?: AbortSignal
  progress?: Progress
}

export interface SelectionScore {
  candidate: Candidate
  lambda: number
  /** Held-out agreement with the given (noisy) labels, pooled over folds. */
  score: number
  perFold: number[]
}

export interface CandidateScore {
  candidate: Candidate
  lambda: number
  score: number
  /** score(top) - score(this), in agreement. */
  behind: number
  /** Paired standard error of that difference (0 for the top itself). */
  pairedSe: number
  /** Fits of this candidate that stopped at the iteration cap instead of the tolerance. */
  unconverged: number
}

export interface NoiseEstimate {
  /** Estimated fraction of wrong given labels (confident learning, 1 - trace of the joint). */
  rate: number
  /** g: prior-weighted mean of C[c][c] - max_{j != c} C[c][j] (module comment). */
  compression: number
  /** Per class: C[c][c] - max_{j != c} C[c][j] (negative: a wrong label is more likely than the right one). */
  perClassGap: number[]
  /** Every class with samples has a positive gap. */
  identifiable: boolean
}

export type SelectionWarning =
  | { code: 'indistinguishable'; candidates: Candidate[] }
  | { code: 'lambda-edge'; candidate: Candidate; lambda: number; edge: 'strong' | 'weak' }
  | { code: 'not-identifiable'; classes: number[] }
  | { code: 'unconverged'; fits: number }

/** Held-out accuracy on the clean random rows (SelectionOptions.clean). */
export interface CleanScores {
  rows: number
  /** Whether the method was chosen by these accuracies (at least CLEAN_MIN_ROWS rows). */
  used: boolean
  /** Every candidate at its best lambda: held-out accuracy on the clean rows and the paired SE to the most accurate. */
  scores: { candidate: Candidate; lambda: number; accuracy: number; behind: number; pairedSe: number }[]
}

export interface SelectionResult {
  scores: SelectionScore[]
  /** Best lambda and score per candidate. */
  best: Record<string, { lambda: number; score: number }>
  /** Every candidate at its best lambda, with its distance to the top and the paired SE. */
  candidates: CandidateScore[]
  /** The chosen candidate (see `methodRule`). */
  winner: { candidate: Candidate; lambda: number; score: number }
  /** The candidate with the highest score. */
  top: { candidate: Candidate; lambda: number; score: number }
  /** Standard error of the top score on its own (binomial). */
  se: number
  /** The rule that chose, its tolerance in agreement, and why in words. */
  rule: MethodRule
  tolerance: number
  reason: string
  noise: NoiseEstimate | null
  /** Held-out accuracy on clean random rows, when the caller marked some (null otherwise). */
  clean: CleanScores | null
  warnings: SelectionWarning[]
  /** The lambdas the path visited (strong to weak) out of the grid. */
  visited: number[]
  grid: number[]
  rows: number
  folds: number
  reduced: boolean
  fits: number
  /** Loss-and-gradient evaluations over all fits (the machine-independent cost). */
  evaluations: number
  /** The same per candidate (the teacher is fitted whether or not it is a candidate: SD and PLL start from it). */
  evaluationsBy: Record<string, number>
  ms: number
}

/** Seeded permutation of 0..n-1 (Fisher-Yates). */
export function permutation(n: number, seed: number): Int32Array {
  const rng = createRng(seed)
  const p = new Int32Array(n)
  for (let i = 0; i < n; i++) p[i] = i
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    const t = p[i]!
    p[i] = p[j]!
    p[j] = t
  }
  return p
}

/** Splits 0..n-1 into `folds` seeded, disjoint held-out parts; returns each fold's (train, heldOut). */
export function kFold(n: number, folds: number, seed: number): { train: Int32Array; heldOut: Int32Array }[] {
  if (folds < 2) throw new Error(`folds must be at least 2, got ${folds}`)
  if (n < folds) throw new Error(`cannot split ${n} samples into ${folds} folds`)
  const p = permutation(n, seed)
  const out: { train: Int32Array; heldOut: Int32Array }[] = []
  for (let f = 0; f < folds; f++) {
    const lo = Math.floor((f * n) / folds)
    const hi = Math.floor(((f + 1) * n) / folds)
    const heldOut = p.slice(lo, hi).sort()
    const train = Int32Array.from([...p.subarray(0, lo), ...p.subarray(hi)]).sort()
    out.push({ train, heldOut })
  }
  return out
}

function sdRounds(c: Candidate): number {
  return c.startsWith('sd') ? Number(c.slice(2)) : 0
}

/** Paired standard error of mean(a - b) for two 0/1 vectors over the same samples. */
export function pairedSe(a: Uint8Array, b: Uint8Array): number {
  const n = a.length
  if (n < 2) return 0
  let s = 0
  let s2 = 0
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!
    s += d
    s2 += d * d
  }
  const mean = s / n
  const v = (s2 - n * mean * mean) / (n - 1)
  return Math.sqrt(Math.max(0, v) / n)
}

/**
 * Noise compression from out-of-fold probabilities (module comment): confident learning's joint
 * Q[given][true], turned into C[true][noisy] by normalising each true class.
 */
export function estimateNoise(oof: Float32Array, y: Int32Array, k: number): NoiseEstimate {
  const cl = confidentLearning(oof, y, k)
  const q = cl.joint
  const prior = new Array<number>(k).fill(0)
  for (let i = 0; i < k; i++) for (let c = 0; c < k; c++) prior[c]! += q[i]![c]!
  const perClassGap: number[] = []
  let g = 0
  let identifiable = true
  for (let c = 0; c < k; c++) {
    if (!(prior[c]! > 0)) {
      perClassGap.push(1)
      continue
    }
    const diag = q[c]![c]! / prior[c]!
    let other = 0
    for (let j = 0; j < k; j++) if (j !== c) other = Math.max(other, q[j]![c]! / prior[c]!)
    const gap = diag - other
    perClassGap.push(gap)
    g += prior[c]! * gap
    if (gap <= 0) identifiable = false
  }
  return { rate: cl.noiseRate, compression: Math.min(1, Math.max(0, g)), perClassGap, identifiable }
}

/**
 * The rows selection runs on for n rows: a seeded subsample of `maxRows` (sorted), or undefined when
 * n fits (all rows). Callers that prepare a matrix for selection from these rows only (the search
 * projection of refine.ts) use the same function, so the rows are the same.
 */
export function selectionRowIndices(n: number, maxRows = DEFAULT_SELECTION_ROWS, seed = 0): Int32Array | undefined {
  return n > maxRows
    ? permutation(n, seed ^ 0x5eed)
        .slice(0, maxRows)
        .sort()
    : undefined
}

/** Where selection runs: the (subsampled, standardised, reduced) matrix and labels. */
async function selectionMatrix(
  engine: ComputeEngine,
  x: FeatureMatrix,
  y: Int32Array,
  opts: SelectionOptions,
): Promise<{ xs: FeatureMatrix; ys: Int32Array; clean?: Uint8Array; std?: Standardization; reduced: boolean }> {
  // The same seeded rows whether they are taken from x or from its prepared basis.
  const rowsIdx = selectionRowIndices(x.n, opts.maxRows, opts.seed)
  const ys = rowsIdx ? Int32Array.from(rowsIdx, (i) => y[i]!) : y
  const cm = opts.clean
  if (cm && cm.length !== x.n) throw new Error(`selection: the clean-row mask has ${cm.length} entries for ${x.n} rows`)
  const clean = cm ? (rowsIdx ? Uint8Array.from(rowsIdx, (i) => cm[i]!) : cm) : undefined
  const rowsOf = (m: FeatureMatrix) => (rowsIdx ? selectRows(m, rowsIdx) : m)
  if (opts.prepared) {
    const p = opts.prepared
    if (p.sampled && p.x.n !== (rowsIdx ? rowsIdx.length : x.n))
      throw new Error(`selection: the prepared matrix has ${p.x.n} rows, the selection ${rowsIdx ? rowsIdx.length : x.n}`)
    return { xs: p.sampled ? p.x : rowsOf(p.x), ys, clean, std: p.std, reduced: p.reduced }
  }
  const xs = rowsOf(x)
  if (!shouldReduce(xs.n, xs.d) && !shouldRotate(xs.n, xs.d)) return { xs, ys, clean, std: opts.std, reduced: false }
  const basis = await spectralBasis(engine, opts.std ? standardized(xs, opts.std) : xs)
  if (!basis) return { xs, ys, clean, std: opts.std, reduced: false }
  return { xs: basis.red.f, ys, clean, reduced: basis.kind === 'reduced' }
}

/**
 * Scores every candidate along the lambda path by k-fold validation on the given labels and picks
 * the winner; see the module comment for why that is an honest proxy of clean accuracy and how the
 * rule accounts for the noise.
 */
export async function selectByValidation(
  engine: ComputeEngine,
  x: FeatureMatrix,
  y: Int32Array,
  k: number,
  opts: SelectionOptions = {},
): Promise<SelectionResult> {
  const t0 = Date.now()
  const candidates: Candidate[] = opts.candidates ?? ['teacher']
  const grid = [...(opts.lambdas ?? DEFAULT_LAMBDAS)].sort((a, b) => b - a)
  const folds = opts.folds ?? 3
  const seed = opts.seed ?? 0
  const patience = opts.patience ?? 2
  const separation = opts.separation ?? DEFAULT_SEPARATION
  const { xs, ys, clean, std, reduced } = await selectionMatrix(engine, x, y, opts)
  const n = xs.n
  const parts = kFold(n, folds, seed)
  const fitOpts: FitOptions = {
    solver: 'lbfgs',
    maxIter: opts.maxIter ?? FIT_MAX_ITER,
    gradTol: FIT_GRAD_TOL,
    relTol: FIT_REL_TOL,
    signal: opts.signal,
  }
  const bias = opts.bias ?? false
  const foldScale = (f: number) => ((opts.lambdaScaling ?? 'n') === 'n' ? x.n / parts[f]!.train.length : 1)

  // Held-out agreement indicators per candidate and lambda, pooled over the folds.
  const agree = new Map<string, Uint8Array>()
  const perFold = new Map<string, number[]>()
  const unconverged = new Map<Candidate, number>()
  const teacherOof = new Map<number, Float32Array>()
  const key = (c: Candidate, l: number) => `${c}@${l}`
  let fits = 0
  const evaluationsBy: Record<string, number> = {}

  const problems: {
    problem: LinearProblem
    heldOut: Int32Array
    xh: FeatureMatrix
    xt: FeatureMatrix
    yt: Int32Array
    warm: Map<string, Float64Array>
  }[] = []
  try {
    for (const { train, heldOut } of parts) {
      const xt = selectRows(xs, train)
      const problem = new LinearProblem(await engine.load(xt, k), bias, std)
      problems.push({ problem, heldOut, xh: selectRows(xs, heldOut), xt, yt: Int32Array.from(train, (i) => ys[i]!), warm: new Map() })
    }
    const visited: number[] = []
    const bestAt = new Map<Candidate, number>() // index into visited of each candidate's best
    // Candidates whose path has ended (module comment: patience, or clearly past their best).
    const finished = new Set<Candidate>()
    const active = (c: Candidate) => candidates.includes(c) && !finished.has(c)
    const scoreOf = (c: Candidate, l: number) => {
      const a = agree.get(key(c, l))!
      let s = 0
      for (let i = 0; i < a.length; i++) s += a[i]!
      return s / a.length
    }
    for (let li = 0; li < grid.length; li++) {
      const lambda = grid[li]!
      if (opts.signal?.aborted) throw new CancelledError('selection')
      for (const c of new Set<Candidate>(['teacher', ...candidates])) if (!finished.has(c)) agree.set(key(c, lambda), new Uint8Array(n))
      const oof = new Float32Array(n * k)
      // SD rounds still needed: up to the last round that is an unfinished candidate (round r trains on round r - 1).
      const sdNow = Math.max(0, ...candidates.filter((c) => c.startsWith('sd') && !finished.has(c)).map(sdRounds))
      const pllNow = candidates.some((c) => c.startsWith('pll') && !finished.has(c))
      for (let f = 0; f < problems.length; f++) {
        const { problem, heldOut, xh, xt, yt, warm } = problems[f]!
        const lf = lambda * foldScale(f)
        const fo: FitOptions = { ...fitOpts, precond: diagonalPreconditioner(xt, k, lf, std) }
        const fit = async (c: Candidate | 'teacher-base', targets: Float32Array, loss: 'ce' | 'gce', w0: Float64Array) => {
          const r = await fitTargets(problem, targets, loss, lf, w0, fo, 'select')
          fits++
          evaluationsBy[c] = (evaluationsBy[c] ?? 0) + r.info.evaluations
          if (!r.info.converged && c !== 'teacher-base') unconverged.set(c, (unconverged.get(c) ?? 0) + 1)
          return r.w
        }
        const score = async (c: Candidate, w: Float64Array, keepOof = false) => {
          const p = await predictModel(engine, problem.model(w), xh)
          const a = agree.get(key(c, lambda))!
          let ok = 0
          for (let r = 0; r < heldOut.length; r++) {
            let best = 0
            for (let j = 1; j < k; j++) if (p[r * k + j]! > p[r * k + best]!) best = j
            const hit = best === ys[heldOut[r]!] ? 1 : 0
            a[heldOut[r]!] = hit
            ok += hit
            if (keepOof) oof.set(p.subarray(r * k, r * k + k), heldOut[r]! * k)
          }
          const kk = key(c, lambda)
          perFold.set(kk, [...(perFold.get(kk) ?? []), ok / heldOut.length])
        }
        const zero = () => new Float64Array(problem.size)
        const teacher = await fit('teacher', oneHot(yt, k), 'ce', warm.get('teacher') ?? zero())
        warm.set('teacher', teacher)
        if (!finished.has('teacher')) await score('teacher', teacher, true)
        const teacherProbs = sdNow > 0 || pllNow ? await problem.probs(teacher) : undefined
        if (sdNow > 0) {
          let prev = teacherProbs!
          let prevW = teacher
          for (let r = 1; r <= sdNow; r++) {
            // Each round's objective is strictly convex: the warm start only changes the time.
            const w = await fit(`sd${r}`, prev, 'ce', warm.get(`sd${r}`) ?? prevW)
            warm.set(`sd${r}`, w)
            if (active(`sd${r}`)) await score(`sd${r}`, w)
            if (r < sdNow) prev = await problem.probs(w)
            prevW = w
          }
        }
        if (pllNow) {
          const t2 = twoHotTopTwo(teacherProbs!, k)
          if (active('pll-ce')) {
            const w = await fit('pll-ce', t2, 'ce', warm.get('pll-ce') ?? teacher)
            warm.set('pll-ce', w)
            await score('pll-ce', w)
          }
          // Non-convex: from the teacher's weights, as the authors' code and the final fit do.
          if (active('pll-gce')) await score('pll-gce', await fit('pll-gce', t2, 'gce', teacher))
        }
      }
      if (!finished.has('teacher')) teacherOof.set(lambda, oof)
      visited.push(lambda)
      const now = candidates.filter((c) => !finished.has(c))
      for (const c of now) {
        const b = bestAt.get(c)
        // Strict '>' keeps the stronger lambda on ties (the path runs from strong to weak).
        if (b === undefined || scoreOf(c, lambda) > scoreOf(c, visited[b]!)) bestAt.set(c, visited.length - 1)
      }
      const line = now.map((c) => `${c} ${(100 * scoreOf(c, lambda)).toFixed(1)}%`).join(', ')
      opts.progress?.({ phase: 'select', done: li + 1, total: grid.length, message: `λ ${lambda}: ${line}` })
      if (patience > 0) {
        for (const c of now) {
          const b = bestAt.get(c)!
          // A path never ends while its best is still its first lambda: at the strong end every
          // candidate predicts nearly one class, and its scores there can fall before they rise.
          if (b === 0) continue
          const since = visited.length - 1 - b
          if (since >= patience) finished.add(c)
          else if (since > 0 && separation > 0) {
            // Clearly past its best: the latest score trails the best by more than `separation`
            // paired standard errors (both scored on the same held-out rows).
            const top = agree.get(key(c, visited[b]!))!
            const cur = agree.get(key(c, lambda))!
            const drop = scoreOf(c, visited[b]!) - scoreOf(c, lambda)
            if (drop > 0 && drop > separation * pairedSe(top, cur)) finished.add(c)
          }
        }
        // The search stops once every path has ended or fallen for `patience` lambdas after its best.
        if (candidates.every((c) => finished.has(c) || visited.length - 1 - bestAt.get(c)! >= patience)) break
      }
    }

    // Per-candidate best, the top, the noise estimate and the rule.
    const scores: SelectionScore[] = []
    for (const c of candidates)
      for (const l of visited)
        if (agree.has(key(c, l))) scores.push({ candidate: c, lambda: l, score: scoreOf(c, l), perFold: perFold.get(key(c, l)) ?? [] })
    const best: SelectionResult['best'] = {}
    for (const c of candidates) {
      const l = visited[bestAt.get(c)!]!
      best[c] = { lambda: l, score: scoreOf(c, l) }
    }
    let topC = candidates[0]!
    for (const c of candidates) if (best[c]!.score > best[topC]!.score) topC = c
    const top = { candidate: topC, ...best[topC]! }
    const topAgree = agree.get(key(topC, top.lambda))!
    const list: CandidateScore[] = candidates.map((c) => ({
      candidate: c,
      lambda: best[c]!.lambda,
      score: best[c]!.score,
      behind: top.score - best[c]!.score,
      pairedSe: c === topC ? 0 : pairedSe(topAgree, agree.get(key(c, best[c]!.lambda))!),
      unconverged: unconverged.get(c) ?? 0,
    }))
    const noise = n >= 2 * k ? estimateNoise(teacherOof.get(best.teacher?.lambda ?? visited[0]!)!, ys, k) : null
    const rule = opts.methodRule ?? 'noise-se'
    // Floor g at 0.05: below that the noise is (nearly) unidentifiable and the scores say little anyway.
    const g = rule === 'noise-se' ? Math.max(0.05, noise?.compression ?? 1) : 1
    let winner = top
    let tolerance = 0
    let reason = `${topC} has the highest held-out agreement with the given labels (${pct(top.score)})`
    const heavy = rule === 'noise-se' && noise !== null && noise.compression < HEAVY_NOISE_COMPRESSION
    if (heavy) {
      // Heavy noise: agreement differences are compressed (g small), so candidates within one
      // paired SE of the top are not told apart by the data; keep the one with the most label
      // averaging (list order: teacher < SD rounds < PLL), which is what helps at high noise.
      const tied = list.filter((c) => c.behind <= c.pairedSe)
      const pick = tied[tied.length - 1]!
      winner = { candidate: pick.candidate, lambda: pick.lambda, score: pick.score }
      tolerance = pick.pairedSe
      if (pick.candidate !== topC)
        reason = `heavy noise (agreement compressed to ${g.toFixed(2)} of accuracy): ${pick.candidate} trails the top (${topC}, ${pct(top.score)}) by ${pts(pick.behind)}, within one paired standard error (${pts(pick.pairedSe)}), and averages labels the most, which helps most at high noise (Jeong & Chung, Sec. 5)`
      else if (tied.length > 1)
        reason += ` and averages labels the most among the candidates within one paired standard error (heavy noise: agreement compressed to ${g.toFixed(2)} of accuracy)`
    } else if (rule !== 'best') {
      for (const cs of list) {
        const tol = g * cs.pairedSe
        if (cs.candidate === topC) break
        if (cs.behind <= tol) {
          winner = { candidate: cs.candidate, lambda: cs.lambda, score: cs.score }
          tolerance = tol
          reason = `${cs.candidate} trails the top (${topC}, ${pct(top.score)}) by ${pts(cs.behind)} agreement, within the tolerance ${pts(tol)} (paired standard error ${pts(cs.pairedSe)}${rule === 'noise-se' ? ` x noise compression ${g.toFixed(2)}` : ''}): the simpler method is kept`
          break
        }
      }
    }
    if (winner.candidate === topC && !reason.includes('averages')) {
      const runner = list.filter((c) => c.candidate !== topC).sort((a, b) => a.behind - b.behind)[0]
      if (runner) reason += `, ${pts(runner.behind)} above ${runner.candidate} (paired standard error ${pts(runner.pairedSe)})`
    }
    // Clean rows (module comment): held-out accuracy on a random draw with clean labels is an
    // unbiased estimate of accuracy, with no compression by the noise; with enough rows it decides.
    let cleanScores: CleanScores | null = null
    const cleanRows: number[] = []
    if (clean) for (let i = 0; i < n; i++) if (clean[i]) cleanRows.push(i)
    if (cleanRows.length > 0) {
      const hits = (c: Candidate) => {
        const a = agree.get(key(c, best[c]!.lambda))!
        return Uint8Array.from(cleanRows, (i) => a[i]!)
      }
      const acc = new Map(candidates.map((c) => [c, hits(c).reduce((t, v) => t + v, 0) / cleanRows.length]))
      let most = candidates[0]!
      for (const c of candidates) if (acc.get(c)! > acc.get(most)!) most = c
      const hm = hits(most)
      const sc = candidates.map((c) => ({
        candidate: c,
        lambda: best[c]!.lambda,
        accuracy: acc.get(c)!,
        behind: acc.get(most)! - acc.get(c)!,
        pairedSe: c === most ? 0 : pairedSe(hm, hits(c)),
      }))
      const used = cleanRows.length >= CLEAN_MIN_ROWS
      cleanScores = { rows: cleanRows.length, used, scores: sc }
      if (used) {
        // The simplest candidate within one paired SE of the most accurate (list order: simplest first).
        const pick = sc.find((c) => c.behind <= c.pairedSe)!
        winner = { candidate: pick.candidate, lambda: pick.lambda, score: best[pick.candidate]!.score }
        tolerance = pick.pairedSe
        reason =
          `chosen by held-out accuracy on ${cleanRows.length} audited samples (a random draw with checked labels, an unbiased measure): ${pick.candidate} ${pct(pick.accuracy)}` +
          (pick.candidate !== most
            ? `, within one paired standard error (${pts(pick.pairedSe)}) of the most accurate (${most}, ${pct(acc.get(most)!)}): the simpler method is kept`
            : '')
      }
    }
    const warnings: SelectionWarning[] = []
    const close = list.filter((c) => c.candidate !== topC && c.behind <= c.pairedSe).map((c) => c.candidate)
    if (close.length > 0) warnings.push({ code: 'indistinguishable', candidates: [topC, ...close] })
    const wl = winner.lambda
    if (grid.length > 1 && wl === grid[0]) warnings.push({ code: 'lambda-edge', candidate: winner.candidate, lambda: wl, edge: 'strong' })
    if (grid.length > 1 && wl === grid[grid.length - 1]) warnings.push({ code: 'lambda-edge', candidate: winner.candidate, lambda: wl, edge: 'weak' })
    if (noise && !noise.identifiable)
      warnings.push({ code: 'not-identifiable', classes: noise.perClassGap.flatMap((gap, c) => (gap <= 0 ? [c] : [])) })
    const unconv = [...unconverged.values()].reduce((a, b) => a + b, 0)
    if (unconv > 0) warnings.push({ code: 'unconverged', fits: unconv })
    const se = Math.sqrt((top.score * (1 - top.score)) / Math.max(1, n))
    return {
      scores,
      best,
      candidates: list,
      winner,
      top,
      se,
      rule,
      tolerance,
      reason,
      noise,
      clean: cleanScores,
      warnings,
      visited,
      grid,
      rows: n,
      folds,
      reduced,
      fits,
      evaluations: problems.reduce((a, p) => a + p.problem.evaluations, 0),
      evaluationsBy,
      ms: Date.now() - t0,
    }
  } finally {
    for (const p of problems) await p.problem.dispose()
  }
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`
const pts = (v: number) => `${(100 * v).toFixed(2)} points`

/** Plain-words messages for selection warnings; `className` names a class index. */
export function warningText(w: SelectionWarning, className: (idx: number) => string = (i) => `class ${i}`): string {
  switch (w.code) {
    case 'indistinguishable':
      return `The held-out scores cannot tell ${w.candidates.join(', ')} apart (within one paired standard error): any of them is as good as the data can show.`
    case 'lambda-edge':
      return `The regularisation λ = ${w.lambda} chosen for ${w.candidate} sits at the ${w.edge === 'strong' ? 'strongest' : 'weakest'} end of the searched range: the best value may lie beyond it (${w.edge === 'strong' ? 'very noisy labels or few samples per dimension' : 'nearly clean labels'}).`
    case 'not-identifiable':
      return `For ${w.classes.map(className).join(', ')}, a wrong label looks more likely than the right one: no method can undo noise like that, and the scores above are not reliable. Review those classes by hand or with a trusted subset.`
    case 'unconverged':
      return `${w.fits} fit(s) stopped at the iteration cap before converging; scores may be slightly off.`
  }
}
