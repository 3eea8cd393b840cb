/**
 * "How many images do we have to look at?" (issue 8, part 5): a simulated inspector on a data set
 * whose true labels are known (the PoC validation's injected noise). The inspector reviews flagged
 * samples in batches of `batch` and answers with the true label; after every batch we count the
 * samples whose final label is right. Four ways to walk the flags:
 *
 * - `feedback` (the app with "Learn from my decisions" on): the queue shows the least certain
 *   flags first (smallest margin between the two most likely classes; `queueOrder`), and after
 *   each batch the refinement is re-run with the reviewed samples as clean, clamped labels
 *   (trained on with the answer, their refined label fixed to it, never flagged again; the rule of
 *   train/project.ts with `useReviews`) and the remaining flags are re-ranked.
 *   Re-fits keep the method, lambda, SD rounds and PLL loss chosen at the start, start from the
 *   previous fit's weights (`RefineOptions.warmStart`) and stop after `refitMaxIter` L-BFGS
 *   iterations: measured on 20k Fashion-MNIST rows after 500 reviews, PLL-GCE at 30 iterations
 *   gave 99.87% the same refined labels as a cold fit to convergence, in 4 s instead of 20 s.
 * - `static` (the app's default queue): the start run's ranking, most certain first, walked in
 *   order, no re-fit.
 * - `uncertain`: the start run's flags least certain first, walked in order, no re-fit: the same
 *   queue rule as `feedback`, so the two differ only by the re-fits.
 * - `cl`: confident learning's ranking (train/cl.ts: cleanlab's prune-by-noise-rate flags ordered
 *   by margin) walked in order, no re-fit, at the lambda chosen at the start.
 *
 * Why the learning queue is least certain first: answers about the flags the model is surest of
 * (most of them already right) teach it what it believes; on 20k Fashion-MNIST rows, seed 1, the
 * re-fits after answers taken most certain first moved labels correct by -0.9 to +0.8 points after
 * 2000 reviews. What the learning adds over the same queue without it depends on the method
 * (docs/ARCHITECTURE.md, "Review simulation": +4.0 points with PLL-GCE at symmetric 0.8, -0.06
 * and -0.02 with SD at symmetric 0.5 and pairwise swaps, after 2000 reviews).
 *
 * Two counts per point, over all n samples (reviewed ones carry the answer, i.e. the true label):
 * - `correct`: unreviewed samples take the current suggestion (the refined label; the export's
 *   auto-accept). For the curves without re-fits that is the start run's refined label, so all
 *   curves start at the same point and differ only in which samples are reviewed;
 *   for `feedback` it is the latest re-fit's, so one review can fix more than one label.
 * - `correctKept`: unreviewed samples keep their given label (the default final-label rule,
 *   shared/final-label.ts); a review fixes at most one label on every curve and the curves differ
 *   only by how many truly wrong labels their rankings put in front of the inspector.
 *
 * Pure over arrays (no project, no storage); progress and cancellation as every long operation.
 */
import { CancelledError, throwIfAborted, type Progress } from '../jobs/progress.ts'
import type { FeatureMatrix, PllLoss, RefineOptions, RefineResult } from '../train/types.ts'
import type { RefineFn } from './validate.ts'

export type ReviewStrategy = 'feedback' | 'static' | 'uncertain' | 'cl'
export const REVIEW_STRATEGIES: readonly ReviewStrategy[] = ['feedback', 'static', 'uncertain', 'cl']

/** Refine options the simulation may fix (method, seed, warm start, signal and progress are its own). */
export type ReviewRefineOptions = Omit<Partial<RefineOptions>, 'seed' | 'warmStart' | 'signal' | 'progress' | 'maxIter'>

export interface ReviewSimOptions {
  /** Reviews per batch: the inspector answers a batch, then (feedback) the model is re-fitted. */
  batch: number
  /** Reviews in all; a curve stops earlier when nothing is left flagged. */
  budget: number
  seed?: number
  /** The start run: method 'auto' and lambda 'auto' unless set here (method 'cl' is not a start). */
  refineOptions?: ReviewRefineOptions
  /** L-BFGS iteration cap of each feedback re-fit (default REFIT_MAX_ITER); the start run uses the engine's default. */
  refitMaxIter?: number
  /** How the feedback curve fills a batch: 'rank' (default: the queue in order) or 'balanced' (see `balancedBatch`). */
  feedbackOrder?: 'balanced' | 'rank'
  /** The feedback curve's queue (default 'uncertain', as the app's learning mode; module comment). */
  queueOrder?: QueueOrder
  /** Pass the answers as RefineOptions.fixedRows (the PLL student trains on their one-hot label; default true, as train/project.ts does). */
  clampInTraining?: boolean
  /** Which curves (default all four). */
  strategies?: readonly ReviewStrategy[]
  /** The refine function (the engine's refineArrays by default; tests may pass their own). */
  refine?: RefineFn
  signal?: AbortSignal
  progress?: Progress
}

/** Default L-BFGS iteration cap of a warm-started re-fit (see the module comment for what it costs). */
export const REFIT_MAX_ITER = 40

export interface ReviewCurve {
  strategy: ReviewStrategy
  /** Reviews done at each point: 0, then after each batch (the last batch may be short). */
  reviews: number[]
  /** Share of all samples with the true label, unreviewed samples taking the current suggestion. */
  correct: number[]
  /** The same with unreviewed samples keeping their given label. */
  correctKept: number[]
  /** Per point: samples of that batch whose suggestion was wrong before their review (0 at the start). */
  fixedByReview: number[]
  /** Per point: samples of that batch whose given label was wrong (0 at the start). */
  wrongGiven: number[]
  /** True when the curve stopped before the budget because nothing was left flagged. */
  exhausted: boolean
  /** Wall seconds of this curve's own fits (the start run is shared and counted in `startSeconds`). */
  seconds: number
  /** Re-fits run (feedback only). */
  refits: number
}

export interface ReviewSimResult {
  n: number
  k: number
  batch: number
  budget: number
  seed: number
  /** What the start run chose; every feedback re-fit uses the same. */
  chosen: { method: string; lambda: number; rounds?: number; pllLoss?: PllLoss }
  /** Samples flagged by the start run and by confident learning (when run). */
  flagged: { start: number; cl?: number }
  /** Share of given labels that are right, and of the start run's suggestions. */
  givenCorrect: number
  startCorrect: number
  /** Wall seconds of the start run (selection and fit). */
  startSeconds: number
  curves: ReviewCurve[]
}

/** The real engine, loaded on first use (as in validate.ts). */
const defaultRefine: RefineFn = async (x, y, k, opts) => {
  const { refineArrays } = await import('../train/refine.ts')
  return refineArrays(x, y, k, opts)
}

/**
 * The next `size` samples to review in the feedback loop: the top-ranked unreviewed flags taken
 * round-robin over the suggested class (each round takes every class's next most certain flag, in
 * rank order), so a batch holds about as many answers per suggested class. Why: the most certain
 * flags crowd into the easiest classes (on 10 Gaussian classes the top 600 held 0 to 126 per true
 * class), and training on clean labels in a few classes only steepens those classes' logits and
 * pushes their boundaries into their neighbours: the re-fit there had 0.8 points fewer suggestions
 * right than no re-fit at all (89.2% to 88.4%), while the same number of answers spread over the
 * classes gained 1.1 points (89.6% to 90.8%). `static` and `cl` walk their ranking as it is.
 */
export function balancedBatch(queue: readonly number[], suggested: Int32Array, k: number, size: number): number[] {
  const byClass: number[][] = Array.from({ length: k }, () => [])
  for (const i of queue) byClass[suggested[i]!]?.push(i)
  const rankOf = new Map(queue.map((i, r) => [i, r]))
  const out: number[] = []
  for (let t = 0; out.length < size; t++) {
    const round = byClass.map((b) => b[t]).filter((i): i is number => i !== undefined)
    if (round.length === 0) break
    round.sort((a, b) => rankOf.get(a)! - rankOf.get(b)!)
    out.push(...round.slice(0, size - out.length))
  }
  return out
}

export type QueueOrder = 'certain' | 'uncertain'

/**
 * Unreviewed flagged samples of a run: 'certain' (default) most certain first (the run's rank;
 * ties cannot occur), 'uncertain' smallest margin between the top two classes first.
 */
export function reviewQueue(
  r: Pick<RefineResult, 'flagged' | 'rank'> & Partial<Pick<RefineResult, 'top1Prob' | 'top2Prob'>>,
  reviewed: Uint8Array,
  order: QueueOrder = 'certain',
): number[] {
  const q: number[] = []
  for (let i = 0; i < r.flagged.length; i++) if (r.flagged[i] && !reviewed[i]) q.push(i)
  if (order === 'uncertain' && r.top1Prob && r.top2Prob) {
    const m = (i: number) => r.top1Prob![i]! - r.top2Prob![i]!
    return q.sort((a, b) => m(a) - m(b) || a - b)
  }
  return q.sort((a, b) => r.rank[a]! - r.rank[b]! || a - b)
}

function share(ok: number, n: number): number {
  return n ? ok / n : 0
}

/** Counts of right final labels: unreviewed take `suggested` (correct) or `given` (kept). */
function counts(suggested: Int32Array, given: Int32Array, truth: Int32Array, reviewed: Uint8Array): { correct: number; kept: number } {
  let correct = 0
  let kept = 0
  for (let i = 0; i < truth.length; i++) {
    if (reviewed[i]) {
      correct++
      kept++
      continue
    }
    if (suggested[i] === truth[i]) correct++
    if (given[i] === truth[i]) kept++
  }
  return { correct, kept }
}

function check(x: FeatureMatrix, given: Int32Array, truth: Int32Array, k: number, opts: ReviewSimOptions): void {
  const n = x.n
  if (given.length !== n || truth.length !== n)
    throw new Error(`review simulation: ${given.length} given and ${truth.length} true labels for ${n} samples`)
  for (let i = 0; i < n; i++) {
    if (!(truth[i]! >= 0 && truth[i]! < k)) throw new Error(`review simulation: true label ${truth[i]} of sample ${i} is outside 0..${k - 1}`)
  }
  if (!(Number.isInteger(opts.batch) && opts.batch >= 1)) throw new Error(`review simulation: batch must be a positive integer, got ${opts.batch}`)
  if (!(Number.isInteger(opts.budget) && opts.budget >= 1))
    throw new Error(`review simulation: budget must be a positive integer, got ${opts.budget}`)
  const it = opts.refitMaxIter ?? REFIT_MAX_ITER
  if (!(Number.isInteger(it) && it >= 1)) throw new Error(`review simulation: refitMaxIter must be a positive integer, got ${it}`)
  if (opts.refineOptions?.method === 'cl') throw new Error("review simulation: the start run cannot be 'cl' (confident learning is its own curve)")
  for (const s of opts.strategies ?? REVIEW_STRATEGIES) {
    if (!REVIEW_STRATEGIES.includes(s)) throw new Error(`review simulation: unknown strategy '${String(s)}'`)
  }
}

/**
 * Simulates an inspector reviewing flagged samples in batches (module comment) and returns one
 * curve per strategy. `given` are the labels the refinement sees (noisy), `truth` the answers.
 * Deterministic for a seed (every refine call gets it). Cancellable between batches and inside
 * a fit.
 */
export async function simulateReview(
  x: FeatureMatrix,
  given: Int32Array,
  truth: Int32Array,
  k: number,
  opts: ReviewSimOptions,
): Promise<ReviewSimResult> {
  check(x, given, truth, k, opts)
  const refine = opts.refine ?? defaultRefine
  const n = x.n
  const seed = opts.seed ?? 0
  const { batch, budget, signal, progress } = opts
  const order = opts.feedbackOrder ?? 'rank'
  const feedbackQueue = opts.queueOrder ?? 'uncertain'
  const strategies = REVIEW_STRATEGIES.filter((s) => (opts.strategies ?? REVIEW_STRATEGIES).includes(s))
  const batches = Math.ceil(budget / batch)
  // Steps for progress: the start run, CL's run, and each feedback re-fit.
  const total = 1 + (strategies.includes('cl') ? 1 : 0) + (strategies.includes('feedback') ? batches : 0)
  let done = 0
  const step = (message: string) => progress?.({ phase: 'review simulation', done, total, message })
  const inner = (what: string): Progress | undefined =>
    progress ? (e) => progress({ phase: 'review simulation', done, total, message: `${what}: ${e.phase} ${e.done}/${e.total}` }) : undefined
  const run = async (y: Int32Array, o: RefineOptions): Promise<RefineResult> => {
    throwIfAborted(signal, 'review simulation')
    try {
      return await refine(x, y, k, { ...o, seed, signal })
    } catch (e) {
      if (signal?.aborted) throw e instanceof CancelledError ? e : new CancelledError('review simulation')
      throw e
    }
  }

  // The start: the refinement as a user would run it, on the given labels.
  step('start run')
  let t = performance.now()
  const start = await run(given, { method: 'auto', lambda: 'auto', ...(opts.refineOptions ?? {}), progress: inner('start run') } as RefineOptions)
  const startSeconds = (performance.now() - t) / 1000
  done++
  const lambda = Number(start.chosen.lambda)
  const chosen: ReviewSimResult['chosen'] = { method: start.method, lambda }
  if (start.method === 'sd' && start.chosen.rounds !== undefined) chosen.rounds = Number(start.chosen.rounds)
  if (start.method === 'pll' && start.chosen.pllLoss !== undefined) chosen.pllLoss = start.chosen.pllLoss as PllLoss
  const fixed: RefineOptions = {
    ...(opts.refineOptions ?? {}),
    method: start.method,
    lambda,
    lambdaSource: 'review simulation start',
    ...(chosen.rounds !== undefined ? { rounds: chosen.rounds } : {}),
    ...(chosen.pllLoss !== undefined ? { pllLoss: chosen.pllLoss } : {}),
  }
  const none = new Uint8Array(n)
  const at0 = counts(start.refined, given, truth, none)
  const result: ReviewSimResult = {
    n,
    k,
    batch,
    budget,
    seed,
    chosen,
    flagged: { start: start.flagged.reduce((a, b) => a + b, 0) },
    givenCorrect: share(at0.kept, n),
    startCorrect: share(at0.correct, n),
    startSeconds,
    curves: [],
  }

  const newCurve = (strategy: ReviewStrategy): ReviewCurve => ({
    strategy,
    reviews: [0],
    correct: [share(at0.correct, n)],
    correctKept: [share(at0.kept, n)],
    fixedByReview: [0],
    wrongGiven: [0],
    exhausted: false,
    seconds: 0,
    refits: 0,
  })

  /** Walks a fixed queue in batches; unreviewed samples keep the start run's suggestions. */
  const walk = (curve: ReviewCurve, queue: number[]) => {
    const reviewed = new Uint8Array(n)
    let pos = 0
    let reviews = 0
    while (reviews < budget) {
      throwIfAborted(signal, 'review simulation')
      const take = queue.slice(pos, pos + Math.min(batch, budget - reviews))
      if (take.length === 0) {
        curve.exhausted = true
        break
      }
      pos += take.length
      let fixedHere = 0
      let wrongHere = 0
      for (const i of take) {
        if (start.refined[i] !== truth[i]) fixedHere++
        if (given[i] !== truth[i]) wrongHere++
        reviewed[i] = 1
      }
      reviews += take.length
      const c = counts(start.refined, given, truth, reviewed)
      curve.reviews.push(reviews)
      curve.correct.push(share(c.correct, n))
      curve.correctKept.push(share(c.kept, n))
      curve.fixedByReview.push(fixedHere)
      curve.wrongGiven.push(wrongHere)
    }
  }

  if (strategies.includes('static')) {
    const curve = newCurve('static')
    walk(curve, reviewQueue(start, none, 'certain'))
    result.curves.push(curve)
  }

  if (strategies.includes('uncertain')) {
    const curve = newCurve('uncertain')
    walk(curve, reviewQueue(start, none, 'uncertain'))
    result.curves.push(curve)
  }

  if (strategies.includes('cl')) {
    step('confident learning')
    t = performance.now()
    // CL's flags come from its own cross-fitted probabilities; only its ranking is used here.
    const cl = await run(given, { ...(opts.refineOptions ?? {}), method: 'cl', lambda, progress: inner('confident learning') })
    done++
    const curve = newCurve('cl')
    curve.seconds = (performance.now() - t) / 1000
    result.flagged.cl = cl.flagged.reduce((a, b) => a + b, 0)
    walk(curve, reviewQueue(cl, none))
    result.curves.push(curve)
  }

  if (strategies.includes('feedback')) {
    const curve = newCurve('feedback')
    const reviewed = new Uint8Array(n)
    const labels = Int32Array.from(given)
    let current = start
    let suggested = start.refined
    let reviews = 0
    t = performance.now()
    while (reviews < budget) {
      throwIfAborted(signal, 'review simulation')
      const queue = reviewQueue(current, reviewed, feedbackQueue)
      const size = Math.min(batch, budget - reviews)
      const take = order === 'balanced' ? balancedBatch(queue, suggested, k, size) : queue.slice(0, size)
      if (take.length === 0) {
        curve.exhausted = true
        break
      }
      let fixedHere = 0
      let wrongHere = 0
      for (const i of take) {
        if (suggested[i] !== truth[i]) fixedHere++
        if (given[i] !== truth[i]) wrongHere++
        reviewed[i] = 1
        labels[i] = truth[i]!
      }
      reviews += take.length
      step(`feedback: re-fit after ${reviews} reviews`)
      const next = await run(labels, {
        ...fixed,
        // The answers are clamped in training too (RefineOptions.fixedRows), as train/project.ts does.
        ...(opts.clampInTraining === false ? {} : { fixedRows: Uint8Array.from(reviewed) }),
        maxIter: opts.refitMaxIter ?? REFIT_MAX_ITER,
        ...(current.weights ? { warmStart: current.weights } : {}),
        progress: inner(`feedback re-fit after ${reviews} reviews`),
      })
      done++
      curve.refits++
      // Clamped: a reviewed sample's suggestion is its answer and it is never flagged again
      // (reviewQueue skips reviewed samples; the run's flags compare with `labels`, which hold
      // the answers on reviewed rows and the given labels elsewhere).
      suggested = Int32Array.from(next.refined)
      for (let i = 0; i < n; i++) if (reviewed[i]) suggested[i] = truth[i]!
      current = next
      const c = counts(suggested, given, truth, reviewed)
      curve.reviews.push(reviews)
      curve.correct.push(share(c.correct, n))
      curve.correctKept.push(share(c.kept, n))
      curve.fixedByReview.push(fixedHere)
      curve.wrongGiven.push(wrongHere)
    }
    curve.seconds = (performance.now() - t) / 1000
    result.curves.push(curve)
  }
  done = total
  step('done')
  // Curves in the fixed order feedback, static, uncertain, cl.
  result.curves.sort((a, b) => REVIEW_STRATEGIES.indexOf(a.strategy) - REVIEW_STRATEGIES.indexOf(b.strategy))
  return result
}

/** A curve's value after `reviews` reviews: the last point at or before it (a curve that stopped early stays flat). */
export function valueAt(
  curve: Pick<ReviewCurve, 'reviews' | 'correct' | 'correctKept'>,
  reviews: number,
  metric: 'correct' | 'correctKept' = 'correct',
): number {
  let v = curve[metric][0] ?? NaN
  for (let j = 0; j < curve.reviews.length; j++) if (curve.reviews[j]! <= reviews) v = curve[metric][j]!
  return v
}
