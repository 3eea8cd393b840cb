/**
 * PoC validation: does label refinement work on *this* data? Sweeps noise types x rates x seeds x
 * methods (teacher, SD rounds 1..t, PLL, confident learning) and measures each cell against labels
 * the training never sees:
 *
 * - accuracy on the trusted split (trusted labels, or a clean test split): never trained on, never
 *   used for any choice;
 * - label recovery on the training samples (refined vs true) when the truth is known, i.e. when the
 *   noise was injected on purpose into labels taken as clean;
 * - flagged precision and recall (flagged = refined != noisy label; truly wrong = noisy != true);
 * - the noise rate actually injected, whether the noise is identifiable (noise.ts), the
 *   hyper-parameters the method chose for itself, and the wall time.
 *
 * `runValidation` works on arrays; `validateProject` loads a project's features, stores the sweep
 * in the `validations` table after every finished cell, and resumes a cancelled or crashed sweep.
 */
import { Method as METHODS, VALIDATION_LIMITS, ValidationNoise as NOISE_TYPES } from '../../../shared/contract.ts'
import type { Db } from '../store/db.ts'
import { listClasses, now } from '../store/db.ts'
import { defaultBackbone, loadFeatureMatrix } from '../extract/features.ts'
import { backboneById } from '../store/backbones.ts'
import { getValidation } from '../store/read-model.ts'
import { countSamples } from '../store/samples.ts'
import { insertValidation, markValidationRunning, validationWriter } from '../store/validations.ts'
import { selectRows } from '../train/engine.ts'
import { CancelledError, throwIfAborted, type Progress } from '../jobs/progress.ts'
import type { FeatureMatrix, Method, RefineOptions, RefineResult } from '../train/types.ts'
import { REVIEW_STRATEGIES, type ReviewSimResult, type ReviewStrategy } from './review-sim.ts'
import {
  classIdentifiability,
  injectNoise,
  superclassGroups,
  transitionMatrix,
  type ClassIdentifiability,
  type NoiseType,
  type TransitionMatrix,
} from './noise.ts'

/** 'none' uses the given labels as they are (trusted-subset mode: they are noisy already). */
export type ValidationNoise = 'none' | NoiseType

/** The refine function the sweep calls (the real one by default; tests may pass their own). */
export type RefineFn = (x: FeatureMatrix, y: Int32Array, k: number, opts: RefineOptions) => Promise<RefineResult>

export interface ValidationInput {
  train: {
    x: FeatureMatrix
    /** Labels as given (class idx 0..K-1). Noise is injected into yTrue ?? yGiven. */
    yGiven: Int32Array
    /** The true labels when known (synthetic data, a demo with hidden truth). */
    yTrue?: Int32Array
  }
  /** Held-out samples with labels taken as correct. Never passed to training. */
  trusted: { x: FeatureMatrix; y: Int32Array }
  classNames: string[]
  /** Free-form description for the report (dataset, backbone, where the trusted labels come from). */
  meta?: ValidationMeta
}

export interface ValidationMeta {
  dataset?: string
  backbone?: string
  trustedSource?: string
  [key: string]: unknown
}

/** Refine options a sweep may fix for every cell (method, rounds, seed, signal and progress are set per cell). */
export type SweepRefineOptions = Omit<Partial<RefineOptions>, 'method' | 'rounds' | 'seed' | 'signal' | 'progress'>

export interface ValidationConfig {
  noiseTypes: ValidationNoise[]
  /** Noise rates eta; ignored for 'none'. */
  rates: number[]
  seeds: number[]
  methods: Method[]
  /** SD is reported for rounds 1..sdRounds (default 3). */
  sdRounds?: number
  refineOptions?: SweepRefineOptions
  /** Superclass groups to use instead of clustering the features. */
  groups?: number[][]
  /** validateProject: which backbone's features (default: the latest one with features). */
  backboneId?: number
  /**
   * Also simulate an inspector per noise draw (review-sim.ts): reviews in batches of `batch` up
   * to `budget`, with feedback, without, and with confident learning's ranking. Needs the true
   * training labels: injected noise, or 'none' with known truth.
   */
  review?: { batch: number; budget: number }
}

/** Metric names stored in CellResult.metrics (a metric that does not apply is absent). */
export const METRICS = [
  'trustedAccuracy',
  'recovery',
  'givenAccuracy',
  'noiseRate',
  'flaggedFraction',
  'flaggedPrecision',
  'flaggedRecall',
  /** Confident learning's own estimate of the share of wrong given labels (cl cells only). */
  'estimatedNoiseRate',
  'seconds',
] as const
export type MetricName = (typeof METRICS)[number]

export interface CellResult {
  /** `${noiseType}|${rate}|${seed}|${method}`: identifies a cell for resuming. */
  key: string
  noiseType: ValidationNoise
  rate: number
  seed: number
  /** 'teacher', 'sd-1'.. 'sd-t', 'pll', 'cl'. */
  method: string
  metrics: Partial<Record<MetricName, number>>
  /** Whether the noise model keeps the true class the most likely label (null for 'none'). */
  identifiable: boolean | null
  /** Hyper-parameters the method used after its own (noisy-label) selection. */
  chosen: Record<string, unknown>
  /** true x refined on the training samples (null when the truth is unknown). */
  confusionTrain: number[][] | null
  /** trusted label x predicted on the trusted split. */
  confusionTrusted: number[][] | null
  /** Set when this cell failed; the sweep goes on with the others. */
  error?: string
}

/** One review simulation of a sweep: a noise draw (type, rate, seed). */
export interface ReviewSimCell {
  /** `${noiseType}|${rate}|${seed}|review`: identifies it for resuming. */
  key: string
  noiseType: ValidationNoise
  rate: number
  seed: number
  result: ReviewSimResult | null
  error?: string
}

/** Per noise type and rate and strategy: labels correct after each number of reviews, mean and sd over seeds. */
export interface ReviewSummaryRow {
  noiseType: ValidationNoise
  rate: number
  strategy: ReviewStrategy
  /** Seeds that finished. */
  n: number
  reviews: number[]
  correct: { mean: number[]; std: number[] }
  correctKept: { mean: number[]; std: number[] }
  /** Mean wall seconds of the strategy's own fits, and of the start run. */
  seconds: number
  startSeconds: number
}

export interface NoiseModel {
  noiseType: NoiseType
  rate: number
  matrix: TransitionMatrix
  identifiable: boolean
  classes: ClassIdentifiability[]
}

export interface SummaryRow {
  noiseType: ValidationNoise
  rate: number
  method: string
  /** Seeds that finished without error. */
  n: number
  mean: Partial<Record<MetricName, number>>
  std: Partial<Record<MetricName, number>>
}

export interface ValidationResult {
  version: 1
  startedAt: string
  finishedAt: string | null
  /** True when every planned cell has a result. */
  complete: boolean
  classNames: string[]
  config: ValidationConfig
  meta: ValidationMeta & { nTrain: number; nTrusted: number; d: number; truthKnown: boolean }
  /** Superclass groups used (null when the sweep has no superclass noise). */
  groups: number[][] | null
  noiseModels: NoiseModel[]
  cells: CellResult[]
  summary: SummaryRow[]
  /** Per noise type and rate, the method with the best mean trusted accuracy. */
  best: { noiseType: ValidationNoise; rate: number; method: string; trustedAccuracy: number }[]
  /** Review simulations (config.review), one per noise draw; absent without config.review. */
  reviewSims?: ReviewSimCell[]
  reviewSummary?: ReviewSummaryRow[]
}

export interface RunValidationOptions {
  progress?: Progress
  signal?: AbortSignal
  refine?: RefineFn
  /** Cells finished earlier (resume): they are kept and not run again. */
  done?: CellResult[]
  /** Called after every finished cell with the partial result (for storage). */
  onCell?: (cell: CellResult, partial: ValidationResult) => void
  /** Review simulations finished earlier (resume). */
  doneReviews?: ReviewSimCell[]
  /** Called after every finished review simulation with the partial result (for storage). */
  onReview?: (sim: ReviewSimCell, partial: ValidationResult) => void
  startedAt?: string
}

/** The real engine, loaded on first use so that a sweep with a stand-in never loads onnxruntime. */
const defaultRefine: RefineFn = async (x, y, k, opts) => {
  const { refineArrays } = await import('../train/refine.ts')
  return refineArrays(x, y, k, opts)
}

interface Unit {
  key: string
  noiseType: ValidationNoise
  rate: number
  seed: number
  method: Method
  rounds?: number
  label: string
}

/** Every cell of a sweep, in run order (noise type, rate, seed, method). */
export function planCells(config: ValidationConfig): Unit[] {
  const sdRounds = config.sdRounds ?? VALIDATION_LIMITS.defaultSdRounds
  const units: Unit[] = []
  const variants: { method: Method; rounds?: number; label: string }[] = []
  for (const m of config.methods) {
    if (m === 'sd') for (let t = 1; t <= sdRounds; t++) variants.push({ method: 'sd', rounds: t, label: `sd-${t}` })
    else variants.push({ method: m, label: m })
  }
  for (const noiseType of config.noiseTypes) {
    const rates = noiseType === 'none' ? [0] : config.rates
    for (const rate of rates) {
      for (const seed of config.seeds) {
        for (const v of variants) {
          units.push({ key: cellKey(noiseType, rate, seed, v.label), noiseType, rate, seed, method: v.method, rounds: v.rounds, label: v.label })
        }
      }
    }
  }
  return units
}

export function cellKey(noiseType: string, rate: number, seed: number, method: string): string {
  return `${noiseType}|${rate}|${seed}|${method}`
}

/** The same rules as the contract's ValidationConfig (shared/contract.ts), from the same limits, with engine wording. */
function checkConfig(config: ValidationConfig): void {
  const types: readonly string[] = NOISE_TYPES.options
  const methods: readonly string[] = METHODS.options
  const { maxRate, maxSdRounds, defaultSdRounds } = VALIDATION_LIMITS
  if (!config.noiseTypes?.length) throw new Error('validation config: noiseTypes is empty')
  for (const t of config.noiseTypes)
    if (!types.includes(t)) throw new Error(`validation config: unknown noise type '${t}' (expected ${types.join(', ')})`)
  if (!config.methods?.length) throw new Error('validation config: methods is empty')
  for (const m of config.methods)
    if (!methods.includes(m)) throw new Error(`validation config: unknown method '${m}' (expected ${methods.join(', ')})`)
  if (!config.seeds?.length) throw new Error('validation config: seeds is empty')
  for (const s of config.seeds) if (!Number.isInteger(s) || s < 0) throw new Error(`validation config: seed ${s} is not a non-negative integer`)
  if (config.noiseTypes.some((t) => t !== 'none') && !config.rates?.length) throw new Error('validation config: rates is empty')
  const rv = config.review
  if (rv && !(Number.isInteger(rv.batch) && rv.batch >= 1 && Number.isInteger(rv.budget) && rv.budget >= 1))
    throw new Error(`validation config: review batch and budget must be positive integers, got ${rv.batch} and ${rv.budget}`)
  for (const r of config.rates ?? []) if (!(r >= 0 && r <= maxRate)) throw new Error(`validation config: rate ${r} is outside [0, ${maxRate}]`)
  const t = config.sdRounds ?? defaultSdRounds
  if (!Number.isInteger(t) || t < 1 || t > maxSdRounds)
    throw new Error(`validation config: sdRounds must be an integer in 1..${maxSdRounds}, got ${t}`)
}

function checkLabels(what: string, y: Int32Array, n: number, k: number): void {
  if (y.length !== n) throw new Error(`${what}: ${y.length} labels for ${n} samples`)
  for (let i = 0; i < n; i++) {
    const c = y[i]!
    if (!(c >= 0 && c < k)) throw new Error(`${what}: label ${c} of sample ${i} is outside 0..${k - 1}`)
  }
}

function argmaxRows(p: Float32Array, n: number, k: number): Int32Array {
  const out = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    let best = 0
    let bv = -Infinity
    for (let c = 0; c < k; c++) {
      const v = p[i * k + c]!
      if (v > bv) {
        bv = v
        best = c
      }
    }
    out[i] = best
  }
  return out
}

function confusion(truth: Int32Array, pred: Int32Array, k: number): number[][] {
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0))
  for (let i = 0; i < truth.length; i++) m[truth[i]!]![pred[i]!]!++
  return m
}

/** JSON-safe copy (drops functions and typed arrays' bulk, keeps numbers, strings, plain objects). */
function plain(v: Record<string, unknown>): Record<string, unknown> {
  try {
    return JSON.parse(
      JSON.stringify(v, (_k, val: unknown) => (ArrayBuffer.isView(val) ? undefined : typeof val === 'bigint' ? Number(val) : val)),
    ) as Record<string, unknown>
  } catch {
    return {}
  }
}

/**
 * Metrics of one refined labelling. `noisy` is what the method was trained on; `truth` the clean
 * labels when known. Precision/recall follow the usual detection definitions with
 * flagged = refined != noisy and wrong = noisy != truth.
 */
export function labelMetrics(refined: Int32Array, noisy: Int32Array, truth: Int32Array | undefined): Partial<Record<MetricName, number>> {
  const n = refined.length
  let flagged = 0
  const out: Partial<Record<MetricName, number>> = {}
  if (!truth) {
    for (let i = 0; i < n; i++) if (refined[i] !== noisy[i]) flagged++
    out.flaggedFraction = n ? flagged / n : 0
    return out
  }
  let correct = 0
  let wrong = 0
  let hit = 0
  let givenOk = 0
  for (let i = 0; i < n; i++) {
    const f = refined[i] !== noisy[i]
    const w = noisy[i] !== truth[i]
    if (f) flagged++
    if (w) wrong++
    if (f && w) hit++
    if (refined[i] === truth[i]) correct++
    if (!w) givenOk++
  }
  out.recovery = n ? correct / n : 0
  out.givenAccuracy = n ? givenOk / n : 0
  out.noiseRate = n ? wrong / n : 0
  out.flaggedFraction = n ? flagged / n : 0
  if (flagged > 0) out.flaggedPrecision = hit / flagged
  if (wrong > 0) out.flaggedRecall = hit / wrong
  return out
}

/** Confident learning's noise-rate estimate when the refine result carries one (details.cl.noiseRate). */
function clEstimate(r: RefineResult): Partial<Record<MetricName, number>> {
  const cl = r.details?.cl as { noiseRate?: unknown } | undefined
  return typeof cl?.noiseRate === 'number' && Number.isFinite(cl.noiseRate) ? { estimatedNoiseRate: cl.noiseRate } : {}
}

/** Mean and sample standard deviation (n - 1; 0 for a single value) per metric over seeds. */
export function summarize(cells: CellResult[]): SummaryRow[] {
  const groups = new Map<string, CellResult[]>()
  for (const c of cells) {
    if (c.error) continue
    const k = `${c.noiseType}|${c.rate}|${c.method}`
    const g = groups.get(k) ?? []
    g.push(c)
    groups.set(k, g)
  }
  const rows: SummaryRow[] = []
  for (const g of groups.values()) {
    const first = g[0]!
    const mean: Partial<Record<MetricName, number>> = {}
    const std: Partial<Record<MetricName, number>> = {}
    for (const m of METRICS) {
      const vals = g.map((c) => c.metrics[m]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
      if (vals.length === 0) continue
      const mu = vals.reduce((a, b) => a + b, 0) / vals.length
      mean[m] = mu
      std[m] = vals.length > 1 ? Math.sqrt(vals.reduce((a, b) => a + (b - mu) ** 2, 0) / (vals.length - 1)) : 0
    }
    rows.push({ noiseType: first.noiseType, rate: first.rate, method: first.method, n: g.length, mean, std })
  }
  return rows
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length
const sd = (v: number[]) => {
  if (v.length < 2) return 0
  const m = mean(v)
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1))
}

/**
 * Mean and sample sd over seeds per (noise type, rate, strategy) of the review curves, on the
 * union of their review counts (a curve that stopped early counts as flat: `valueAt`).
 */
export function summarizeReviews(
  sims: ReviewSimCell[],
  valueAt: (c: ReviewSimResult['curves'][number], r: number, m: 'correct' | 'correctKept') => number,
): ReviewSummaryRow[] {
  const groups = new Map<string, ReviewSimCell[]>()
  for (const s of sims) {
    if (!s.result) continue
    const k = `${s.noiseType}|${s.rate}`
    groups.set(k, [...(groups.get(k) ?? []), s])
  }
  const rows: ReviewSummaryRow[] = []
  for (const g of groups.values()) {
    const first = g[0]!
    for (const strategy of REVIEW_STRATEGIES) {
      const curves = g.map((s) => s.result!.curves.find((c) => c.strategy === strategy)).filter((c) => c !== undefined)
      if (curves.length === 0) continue
      const reviews = [...new Set(curves.flatMap((c) => c.reviews))].sort((a, b) => a - b)
      const at = (m: 'correct' | 'correctKept') => {
        const per = reviews.map((r) => curves.map((c) => valueAt(c, r, m)))
        return { mean: per.map(mean), std: per.map(sd) }
      }
      rows.push({
        noiseType: first.noiseType,
        rate: first.rate,
        strategy,
        n: curves.length,
        reviews,
        correct: at('correct'),
        correctKept: at('correctKept'),
        seconds: mean(curves.map((c) => c.seconds)),
        startSeconds: mean(g.map((s) => s.result!.startSeconds)),
      })
    }
  }
  return rows
}

function bestPerSetting(summary: SummaryRow[]): ValidationResult['best'] {
  const best = new Map<string, ValidationResult['best'][number]>()
  for (const r of summary) {
    const acc = r.mean.trustedAccuracy
    if (acc === undefined) continue
    const k = `${r.noiseType}|${r.rate}`
    const cur = best.get(k)
    if (!cur || acc > cur.trustedAccuracy) best.set(k, { noiseType: r.noiseType, rate: r.rate, method: r.method, trustedAccuracy: acc })
  }
  return [...best.values()]
}

/**
 * Runs a validation sweep on arrays. The training samples (input.train) are the only samples any
 * refine call sees; the trusted split is only predicted. Cancellable between cells (and inside a
 * cell where the refine function honours the signal); cells in `opts.done` are kept and skipped.
 */
export async function runValidation(input: ValidationInput, config: ValidationConfig, opts: RunValidationOptions = {}): Promise<ValidationResult> {
  checkConfig(config)
  const refine = opts.refine ?? defaultRefine
  const k = input.classNames.length
  if (k < 2) throw new Error(`validation needs at least 2 classes, got ${k}`)
  const { x, yGiven, yTrue } = input.train
  const n = x.n
  if (n === 0) throw new Error('validation: no training samples')
  if (input.trusted.x.n === 0) throw new Error('validation: the trusted split is empty')
  if (input.trusted.x.d !== x.d) throw new Error(`validation: trusted features have ${input.trusted.x.d} dimensions, training features ${x.d}`)
  checkLabels('training labels', yGiven, n, k)
  if (yTrue) checkLabels('true training labels', yTrue, n, k)
  checkLabels('trusted labels', input.trusted.y, input.trusted.x.n, k)

  // Injected noise corrupts labels taken as clean: the truth when known, else the given labels.
  const base = yTrue ?? yGiven
  let groups: number[][] | null = null
  if (config.noiseTypes.includes('superclass')) groups = config.groups ?? superclassGroups(x, base, k)
  const noiseModels: NoiseModel[] = []
  for (const t of config.noiseTypes) {
    if (t === 'none') continue
    for (const rate of config.rates) {
      const matrix = transitionMatrix(t, k, rate, groups ?? undefined)
      const classes = classIdentifiability(matrix)
      noiseModels.push({ noiseType: t, rate, matrix, identifiable: classes.every((c) => c.identifiable), classes })
    }
  }

  const units = planCells(config)
  // One review simulation per noise draw whose truth is known (config.review).
  const draws = config.review
    ? [...new Map(units.map((u) => [`${u.noiseType}|${u.rate}|${u.seed}`, u])).values()].filter((u) => u.noiseType !== 'none' || yTrue !== undefined)
    : []
  const doneReviews = new Map<string, ReviewSimCell>()
  for (const r of opts.doneReviews ?? []) if (!r.error && r.result) doneReviews.set(r.key, r)
  const done = new Map<string, CellResult>()
  for (const c of opts.done ?? []) if (!c.error) done.set(c.key, c)
  const result: ValidationResult = {
    version: 1,
    startedAt: opts.startedAt ?? now(),
    finishedAt: null,
    complete: false,
    classNames: [...input.classNames],
    config,
    meta: { ...(input.meta ?? {}), nTrain: n, nTrusted: input.trusted.x.n, d: x.d, truthKnown: yTrue !== undefined },
    groups,
    noiseModels,
    cells: units.map((u) => done.get(u.key)).filter((c): c is CellResult => c !== undefined),
    summary: [],
    best: [],
  }
  if (config.review) result.reviewSims = draws.map((u) => doneReviews.get(reviewKey(u))).filter((c): c is ReviewSimCell => c !== undefined)
  const refresh = () => {
    const order = new Map(units.map((u, i) => [u.key, i]))
    result.cells.sort((a, b) => (order.get(a.key) ?? 0) - (order.get(b.key) ?? 0))
    result.summary = summarize(result.cells)
    result.best = bestPerSetting(result.summary)
  }
  refresh()

  const progress = opts.progress
  const total = units.length + draws.length
  let finished = result.cells.length + (result.reviewSims?.length ?? 0)
  progress?.({ phase: 'validate', done: finished, total, message: finished ? `resuming after ${finished} finished cells` : undefined })

  // One noise draw per (type, rate, seed), shared by that cell's methods.
  const noisyCache = new Map<string, Int32Array>()
  for (const u of units) {
    if (done.has(u.key)) continue
    throwIfAborted(opts.signal, 'validation')
    const drawKey = `${u.noiseType}|${u.rate}|${u.seed}`
    let noisy = noisyCache.get(drawKey)
    if (!noisy) {
      noisy = u.noiseType === 'none' ? yGiven : injectNoise(base, k, { type: u.noiseType, rate: u.rate, seed: u.seed, groups: groups ?? undefined })
      noisyCache.clear() // cells are ordered by draw, so only the current draw is needed
      noisyCache.set(drawKey, noisy)
    }
    const truth = u.noiseType === 'none' ? yTrue : base
    const model = noiseModels.find((m) => m.noiseType === u.noiseType && m.rate === u.rate)
    const label = `${u.noiseType}${u.noiseType === 'none' ? '' : ` ${u.rate}`} seed ${u.seed} ${u.label}`
    const cellProgress: Progress | undefined = progress
      ? (e) => progress({ phase: 'validate', done: finished, total, message: `${label}: ${e.phase} ${e.done}/${e.total}` })
      : undefined
    progress?.({ phase: 'validate', done: finished, total, message: label })
    const t0 = performance.now()
    let cell: CellResult
    try {
      const r = await refine(x, noisy, k, {
        ...(config.refineOptions ?? {}),
        method: u.method,
        ...(u.rounds !== undefined ? { rounds: u.rounds } : {}),
        seed: u.seed,
        signal: opts.signal,
        progress: cellProgress,
      })
      const probs = await r.predict(input.trusted.x)
      const seconds = (performance.now() - t0) / 1000
      const pred = argmaxRows(probs, input.trusted.x.n, k)
      let ok = 0
      for (let i = 0; i < pred.length; i++) if (pred[i] === input.trusted.y[i]) ok++
      cell = {
        key: u.key,
        noiseType: u.noiseType,
        rate: u.rate,
        seed: u.seed,
        method: u.label,
        metrics: { trustedAccuracy: ok / pred.length, ...labelMetrics(r.refined, noisy, truth), ...clEstimate(r), seconds },
        identifiable: model ? model.identifiable : null,
        chosen: plain(r.chosen ?? {}),
        confusionTrain: truth ? confusion(truth, r.refined, k) : null,
        confusionTrusted: confusion(input.trusted.y, pred, k),
      }
    } catch (e) {
      if (e instanceof CancelledError || opts.signal?.aborted) throw e instanceof CancelledError ? e : new CancelledError('validation')
      cell = {
        key: u.key,
        noiseType: u.noiseType,
        rate: u.rate,
        seed: u.seed,
        method: u.label,
        metrics: { seconds: (performance.now() - t0) / 1000 },
        identifiable: model ? model.identifiable : null,
        chosen: {},
        confusionTrain: null,
        confusionTrusted: null,
        error: (e as Error).message ?? String(e),
      }
    }
    result.cells.push(cell)
    refresh()
    finished++
    progress?.({ phase: 'validate', done: finished, total, message: label })
    opts.onCell?.(cell, result)
  }
  if (config.review && draws.length > 0) {
    const sim = await import('./review-sim.ts')
    const summarizeNow = () => {
      const order = new Map(draws.map((u, i) => [reviewKey(u), i]))
      result.reviewSims!.sort((a, b) => (order.get(a.key) ?? 0) - (order.get(b.key) ?? 0))
      result.reviewSummary = summarizeReviews(result.reviewSims!, sim.valueAt)
    }
    summarizeNow()
    for (const u of draws) {
      const key = reviewKey(u)
      if (doneReviews.has(key)) continue
      throwIfAborted(opts.signal, 'validation')
      const noisy =
        u.noiseType === 'none' ? yGiven : injectNoise(base, k, { type: u.noiseType, rate: u.rate, seed: u.seed, groups: groups ?? undefined })
      const truth = u.noiseType === 'none' ? yTrue! : base
      const label = `${u.noiseType}${u.noiseType === 'none' ? '' : ` ${u.rate}`} seed ${u.seed} review simulation`
      progress?.({ phase: 'validate', done: finished, total, message: label })
      let cell: ReviewSimCell
      try {
        const r = await sim.simulateReview(x, noisy, truth, k, {
          batch: config.review.batch,
          budget: config.review.budget,
          seed: u.seed,
          refineOptions: config.refineOptions ?? {},
          refine: opts.refine,
          signal: opts.signal,
          progress: progress
            ? (e) => progress({ phase: 'validate', done: finished, total, message: `${label}: ${e.message ?? e.phase}` })
            : undefined,
        })
        cell = { key, noiseType: u.noiseType, rate: u.rate, seed: u.seed, result: r }
      } catch (e) {
        if (e instanceof CancelledError || opts.signal?.aborted) throw e instanceof CancelledError ? e : new CancelledError('validation')
        cell = { key, noiseType: u.noiseType, rate: u.rate, seed: u.seed, result: null, error: (e as Error).message ?? String(e) }
      }
      result.reviewSims!.push(cell)
      summarizeNow()
      finished++
      progress?.({ phase: 'validate', done: finished, total, message: label })
      opts.onReview?.(cell, result)
    }
  }
  result.complete = true
  result.finishedAt = now()
  return result
}

function reviewKey(u: { noiseType: string; rate: number; seed: number }): string {
  return `${u.noiseType}|${u.rate}|${u.seed}|review`
}

// ---------------------------------------------------------------------------------------------
// Project-level validation

export interface ValidateProjectOptions {
  progress?: Progress
  signal?: AbortSignal
  refine?: RefineFn
  /** Resume this validation (its stored config is used; finished cells are kept). */
  validationId?: number
}

/**
 * Builds the validation input of a project: training = train-split samples with a given label and
 * no trusted label; trusted split = every sample with a trusted label, or else the test split with
 * its given labels. Samples with a trusted label are never training samples.
 */
export function loadValidationInput(db: Db, backboneId: number): ValidationInput {
  const classes = listClasses(db)
  if (classes.length < 2) throw new Error(`project has ${classes.length} classes; validation needs at least 2`)
  const bb = backboneById(db, backboneId)
  if (!bb) throw new Error(`no backbone with id ${backboneId} in this project`)
  const train = loadFeatureMatrix(db, backboneId, { split: 'train' })
  const test = loadFeatureMatrix(db, backboneId, { split: 'test' })
  const trainRows: number[] = []
  const trustedTrainRows: number[] = []
  for (let i = 0; i < train.x.n; i++) {
    if (train.trusted[i]! >= 0) trustedTrainRows.push(i)
    else if (train.given[i]! >= 0) trainRows.push(i)
  }
  const trustedTestRows: number[] = []
  for (let i = 0; i < test.x.n; i++) if (test.trusted[i]! >= 0) trustedTestRows.push(i)

  let trusted: ValidationInput['trusted']
  let trustedSource: string
  if (trustedTrainRows.length + trustedTestRows.length > 0) {
    const a = selectRows(train.x, trustedTrainRows)
    const b = selectRows(test.x, trustedTestRows)
    const data = new Float32Array(a.data.length + b.data.length)
    data.set(a.data)
    data.set(b.data, a.data.length)
    const y = new Int32Array(trustedTrainRows.length + trustedTestRows.length)
    trustedTrainRows.forEach((r, i) => (y[i] = train.trusted[r]!))
    trustedTestRows.forEach((r, i) => (y[trustedTrainRows.length + i] = test.trusted[r]!))
    trusted = { x: { data, n: y.length, d: bb.dim }, y }
    trustedSource = `${y.length} samples with a trusted label (excluded from training)`
  } else {
    const rows: number[] = []
    for (let i = 0; i < test.x.n; i++) if (test.given[i]! >= 0) rows.push(i)
    if (rows.length === 0) {
      const nTest = countSamples(db, { split: 'test' })
      const why = nTest > 0 ? ` (the project's ${nTest} test samples have no labelled features from backbone ${backboneId}, ${bb.name})` : ''
      throw new Error(`no trusted split: import a test split or trusted_label column${why}`)
    }
    trusted = { x: selectRows(test.x, rows), y: Int32Array.from(rows, (r) => test.given[r]!) }
    trustedSource = `test split, ${rows.length} samples with their given labels`
  }
  if (trainRows.length === 0) {
    throw new Error(
      `no training samples with a given label have features from backbone ${backboneId} (${bb.name}); the training and trusted samples need features from one backbone`,
    )
  }
  const file = (db as unknown as { name?: string }).name
  return {
    train: { x: selectRows(train.x, trainRows), yGiven: Int32Array.from(trainRows, (r) => train.given[r]!) },
    trusted,
    classNames: classes.map((c) => c.name),
    meta: {
      dataset: file ? file.split(/[\\/]/).pop() : undefined,
      backbone: `${bb.name} (${bb.kind}, ${bb.dim}-d)`,
      trustedSource,
    },
  }
}

/**
 * Runs (or resumes) a validation sweep on a project and records it in `validations`: the row is
 * created as 'running', its results are rewritten after every finished cell, and it ends as
 * 'done', 'cancelled' or 'failed'. Resuming (`opts.validationId`) reuses the stored config and
 * keeps the finished cells. A finished validation is returned as stored.
 */
export async function validateProject(
  db: Db,
  config: ValidationConfig,
  opts: ValidateProjectOptions = {},
): Promise<{ validationId: number; result: ValidationResult }> {
  let id: number
  let cfg = config
  let doneCells: CellResult[] = []
  let doneReviews: ReviewSimCell[] = []
  let startedAt = now()
  let backboneId: number
  if (opts.validationId !== undefined) {
    const row = getValidation(db, opts.validationId)
    if (!row) throw new Error(`no validation with id ${opts.validationId} in this project`)
    const params = row.params as { config: ValidationConfig; backboneId: number }
    cfg = params.config
    backboneId = params.backboneId
    const stored = (row.results ?? undefined) as ValidationResult | undefined
    if (row.status === 'done' && stored?.complete) return { validationId: row.id, result: stored }
    doneCells = stored?.cells ?? []
    doneReviews = stored?.reviewSims ?? []
    startedAt = row.startedAt
    id = row.id
    markValidationRunning(db, id)
  } else {
    checkConfig(cfg)
    backboneId = cfg.backboneId ?? defaultBackbone(db)
    id = insertValidation(db, { config: { ...cfg, backboneId }, backboneId }, startedAt)
  }
  const writer = validationWriter(db, id)
  try {
    const input = loadValidationInput(db, backboneId)
    const result = await runValidation(
      input,
      { ...cfg, backboneId },
      {
        progress: opts.progress,
        signal: opts.signal,
        refine: opts.refine,
        done: doneCells,
        doneReviews,
        startedAt,
        onCell: (_cell, partial) => writer.save(partial),
        onReview: (_sim, partial) => writer.save(partial),
      },
    )
    writer.finish('done', now(), result)
    return { validationId: id, result }
  } catch (e) {
    if (e instanceof CancelledError) {
      writer.finish('cancelled', now(), null)
    } else {
      // Keep the finished cells; note the error beside them.
      const stored = (getValidation(db, id)?.results ?? {}) as Record<string, unknown>
      writer.finish('failed', now(), { ...stored, error: (e as Error).message })
    }
    throw e
  }
}
