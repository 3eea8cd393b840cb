/**
 * Refinement of a whole project: loads the stored features, trains on the training-split samples
 * that have a given label and no trusted label, and records a `runs` row with its `predictions`
 * (training samples from the run itself, every other sample with features through the trained
 * model).
 *
 * The trusted-samples rule (one place): a training sample with a trusted label (an audited
 * subset) is trained on with its trusted label, never its given one, takes part in selection
 * like any other labelled sample, and keeps the trusted label as its refined label (clamped: the
 * audit is the best label the plant has). Where its given label differs, it is flagged, ranked
 * first, so the correction reaches the export through review. Measured on the demo (500 images,
 * every fifth audited): the teacher's labels on the other 400 were 81.8% right trained this way
 * and 79.0% when the audited fifth was left out. The audited subset still measures the given
 * labels (metrics.trusted.givenAccuracy: a model-free check of the noise rate); measuring the
 * refined labels needs samples the model did not train on: the PoC validation holds the trusted
 * subset out for that.
 *
 * The review rule (with `useReviews`, issue 8): the project's standing review decisions are clean
 * labels too: accept -> the class accepted, relabel -> the class chosen, keep -> the given class,
 * exclude -> the sample is left out of training. A reviewed label outranks a trusted one (it is
 * the latest human word on the sample) and the given one. Reviewed rows are trained on with that
 * label and clamped (refined = the decision, probability 1, never flagged again), so every
 * decision moves the model and with it the other suggestions. They take part in selection like
 * every labelled row; reviewed rows were chosen because the model flagged them, so they are not a
 * random sample: agreement on them is not an unbiased accuracy, which is why they are only a
 * small share of what selection scores and the noise-compression rule still judges the rest.
 * Answers of an audit of the whole dataset (a random draw) are the unbiased kind: with
 * `useReviews` they are trained on with the answered label (not clamped: an audit measures, it
 * never sets a final label) and marked as selection's clean rows, which choose the method by
 * held-out accuracy from 200 answers on (selection.ts).
 */
import { CancelledError } from '../jobs/progress.ts'
import { defaultBackbone, loadFeatureMatrix } from '../extract/features.ts'
import { reviewState } from '../review/review.ts'
import { latestAuditAnswers, listAudits } from '../store/audits.ts'
import { lastReviewEventId } from '../store/reviews.ts'
import { listClasses, type Db } from '../store/db.ts'
import { backboneExists, completeRun, failRun, insertRun, type PredictionRow } from '../store/runs.ts'
import { selectRows } from './engine.ts'
import { accuracy, topTwo } from './fit.ts'
import { refineArrays } from './refine.ts'
import type { FeatureMatrix, RefineOptions, RefineResult } from './types.ts'

export type ProjectRefineOptions = RefineOptions & {
  backboneId?: number
  /** Train on the standing review decisions as clean, clamped labels (module comment). Default false. */
  useReviews?: boolean
  /** The training set, when the caller loaded it already (projectTrainingSet of the same backbone). */
  trainingSet?: ProjectTrainingSet
}

/** The options as stored in runs.params (no signal/progress/arrays). */
function paramsOf(opts: ProjectRefineOptions, backboneId: number): Record<string, unknown> {
  const { signal: _s, progress: _p, trainingSet: _t, ...rest } = opts
  return { ...rest, backboneId }
}

/** A project's training set under the trusted-samples rule, and every other sample with features. */
export interface ProjectTrainingSet {
  backboneId: number
  k: number
  /** Training rows: train split with a trusted or a given label; `y` is the trusted label where there is one. */
  x: FeatureMatrix
  y: Int32Array
  sampleIds: Int32Array
  /** The given label of each training row (-1 where only a trusted label exists). */
  given: Int32Array
  /** The trusted label of each training row, -1 where none. */
  trusted: Int32Array
  /** The class a standing review decision gives each training row, -1 where none (always -1 without `useReviews`). */
  reviewed: Int32Array
  /** Training-split samples left out because a reviewer excluded them (with `useReviews`). */
  excludedByReview: number
  /** The newest review event this set reflects (store/reviews.ts `lastReviewEventId`; 0 without `useReviews`). */
  reviewsUpTo: number
  /**
   * 1 where the row's label is an answer of an audit of the whole dataset (a random draw, checked
   * by a person) and no review decision disagrees (with `useReviews`): selection's clean rows.
   */
  clean: Uint8Array
  /**
   * Everything else with features (unlabelled and review-excluded training samples, the test
   * split); `decided` is 1 where a standing review decision settles the sample (with `useReviews`):
   * such a sample is never flagged again, trained on or not.
   */
  other: { x: FeatureMatrix; sampleIds: Int32Array; given: Int32Array; trusted: Int32Array; decided: Uint8Array }
}

/** Loads the training set of a project (see the module comment for the rule). */
export function projectTrainingSet(db: Db, backboneId?: number, opts: { useReviews?: boolean } = {}): ProjectTrainingSet {
  const id = backboneId ?? defaultBackbone(db)
  if (!backboneExists(db, id)) throw new Error(`refine: no backbone with id ${id} in this project`)
  const k = listClasses(db).length
  if (k < 2) throw new Error(`refine: the project has ${k} class(es); at least 2 are needed`)
  const train = loadFeatureMatrix(db, id, { split: 'train' })
  // The review rule (module comment): -2 = excluded, -1 = no standing decision, else the class.
  const decided = new Int32Array(train.given.length).fill(-1)
  // Read in one synchronous stretch with the state below: no decision can land in between.
  const reviewsUpTo = opts.useReviews ? lastReviewEventId(db) : 0
  if (opts.useReviews) {
    const state = reviewState(db)
    for (let i = 0; i < decided.length; i++) {
      const st = state.get(train.sampleIds[i]!)
      if (!st || st.status === 'unreviewed') continue
      if (st.status === 'excluded') decided[i] = -2
      else if (st.finalIdx !== null && st.finalIdx >= 0 && st.finalIdx < k) decided[i] = st.finalIdx
    }
  }
  // Audit answers (with `useReviews`): audits of the whole dataset only, a uniform random draw;
  // an audit of the unflagged part is not uniform over the training set. Latest answer wins.
  const answered = new Map<number, number>()
  if (opts.useReviews) {
    for (const a of [...listAudits(db)].reverse()) {
      if (a.stratum !== 'all') continue
      for (const [sid, ans] of latestAuditAnswers(db, a.id)) if (ans.classIdx >= 0 && ans.classIdx < k) answered.set(sid, ans.classIdx)
    }
  }
  const answerOf = (i: number) => answered.get(train.sampleIds[i]!) ?? -1
  const labelled: number[] = []
  const otherTrain: number[] = []
  let excludedByReview = 0
  for (let i = 0; i < train.given.length; i++) {
    if (decided[i] === -2) excludedByReview++
    ;(decided[i]! !== -2 && (train.given[i]! >= 0 || train.trusted[i]! >= 0 || decided[i]! >= 0 || answerOf(i) >= 0) ? labelled : otherTrain).push(i)
  }
  if (labelled.length < 2) throw new Error(`refine: only ${labelled.length} training sample(s) with features and a label`)
  const x = labelled.length === train.x.n ? train.x : selectRows(train.x, labelled)
  const test = loadFeatureMatrix(db, id, { split: 'test' })
  const d = train.x.d
  const m = otherTrain.length + test.x.n
  const other = {
    x: { data: new Float32Array(m * d), n: m, d },
    sampleIds: new Int32Array(m),
    given: new Int32Array(m),
    trusted: new Int32Array(m),
    decided: new Uint8Array(m),
  }
  otherTrain.forEach((i, r) => {
    other.x.data.set(train.x.data.subarray(i * d, (i + 1) * d), r * d)
    other.sampleIds[r] = train.sampleIds[i]!
    other.given[r] = train.given[i]!
    other.trusted[r] = train.trusted[i]!
    other.decided[r] = decided[i]! !== -1 ? 1 : 0
  })
  other.x.data.set(test.x.data, otherTrain.length * d)
  other.sampleIds.set(test.sampleIds, otherTrain.length)
  other.given.set(test.given, otherTrain.length)
  other.trusted.set(test.trusted, otherTrain.length)
  if (opts.useReviews) {
    const state = reviewState(db, { sampleIds: [...test.sampleIds] })
    test.sampleIds.forEach((id, r) => {
      const st = state.get(id)
      if (st && st.status !== 'unreviewed') other.decided[otherTrain.length + r] = 1
    })
  }
  return {
    backboneId: id,
    k,
    x,
    y: Int32Array.from(labelled, (i) =>
      decided[i]! >= 0 ? decided[i]! : answerOf(i) >= 0 ? answerOf(i) : train.trusted[i]! >= 0 ? train.trusted[i]! : train.given[i]!,
    ),
    sampleIds: Int32Array.from(labelled, (i) => train.sampleIds[i]!),
    given: Int32Array.from(labelled, (i) => train.given[i]!),
    trusted: Int32Array.from(labelled, (i) => train.trusted[i]!),
    reviewed: Int32Array.from(labelled, (i) => decided[i]!),
    excludedByReview,
    reviewsUpTo,
    clean: Uint8Array.from(labelled, (i) => (answerOf(i) >= 0 && (decided[i]! < 0 || decided[i] === answerOf(i)) ? 1 : 0)),
    other,
  }
}

/**
 * Runs one refinement (a method, or 'auto') on the project's features and stores it as a run.
 * Returns the run id, the in-memory result and the stored metrics. The run row is written first
 * with status 'running' (method as asked) and ends as 'done' (method as run), 'failed' or
 * 'cancelled'; predictions are written in one transaction.
 */
export async function refineProject(
  db: Db,
  opts: ProjectRefineOptions,
): Promise<{ runId: number; result: RefineResult; metrics: Record<string, unknown> & { backboneId: number; trainClassCounts: number[] } }> {
  const backboneId = opts.backboneId ?? defaultBackbone(db)
  if (!backboneExists(db, backboneId)) throw new Error(`refine: no backbone with id ${backboneId} in this project`)
  const runId = insertRun(db, { method: opts.method, backboneId, params: paramsOf(opts, backboneId), seed: opts.seed ?? 0 })
  try {
    const ts = opts.trainingSet?.backboneId === backboneId ? opts.trainingSet : projectTrainingSet(db, backboneId, { useReviews: opts.useReviews })
    const { k, x, y, other } = ts
    const cleanRows = ts.clean.some((c) => c === 1) ? ts.clean : undefined
    // Review decisions are clamped in training too (RefineOptions.fixedRows: the PLL student's candidate set is the decision).
    const fixedRows = ts.reviewed.some((c) => c >= 0) ? Uint8Array.from(ts.reviewed, (c) => (c >= 0 ? 1 : 0)) : undefined
    const result = clampKnown(
      await refineArrays(x, y, k, {
        subspaceKey: `${db.name}#${backboneId}`,
        ...(cleanRows ? { cleanRows } : {}),
        ...(fixedRows ? { fixedRows } : {}),
        ...opts,
      }),
      ts,
    )
    const otherProbs = other.x.n > 0 ? await result.predict(other.x) : new Float32Array(0)
    if (opts.signal?.aborted) throw new CancelledError('refine')

    // Metrics. Trusted labels are used here only to report, after every choice was made.
    const flaggedCount = result.flagged.reduce((a, b) => a + b, 0)
    const trainClassCounts = new Array<number>(k).fill(0)
    for (const c of y) trainClassCounts[c]!++
    const metrics: Record<string, unknown> & { backboneId: number; trainClassCounts: number[] } = {
      backboneId,
      trainSamples: result.n,
      trainClassCounts,
      flagged: flaggedCount,
      trustedInTraining: ts.trusted.reduce((a, t) => a + (t >= 0 ? 1 : 0), 0),
      reviewedInTraining: ts.reviewed.reduce((a, t) => a + (t >= 0 ? 1 : 0), 0),
      auditedInTraining: ts.clean.reduce((a, t) => a + t, 0),
      excludedByReview: ts.excludedByReview,
      reviewsUpTo: ts.reviewsUpTo,
      flaggedFraction: flaggedCount / result.n,
      givenAgreement: accuracy(result.probs, ts.given, k),
      chosen: result.chosen,
      method: result.method,
      lambda: result.chosen.lambda,
      selection: result.details.selection,
      otherSamples: other.x.n,
      crossFit: result.chosen.crossFit === true,
      samplesPerDimension: x.n / x.d,
    }
    if (result.details.cl) metrics.noiseRateEstimate = (result.details.cl as { noiseRate: number }).noiseRate
    // The audit of the given labels (model-free): on samples with both a given and a trusted label,
    // how many given labels are right. Trusted training samples are clamped, so the refined labels
    // are not graded here (the PoC validation holds the trusted subset out to do that).
    const otherTop = topTwo(otherProbs, k)
    let tn = 0
    let givenOk = 0
    const audit = (g: number, t: number) => {
      if (g < 0 || t < 0) return
      tn++
      if (g === t) givenOk++
    }
    for (let r = 0; r < result.n; r++) audit(ts.given[r]!, ts.trusted[r]!)
    for (let r = 0; r < other.x.n; r++) audit(other.given[r]!, other.trusted[r]!)
    if (tn > 0) metrics.trusted = { samples: tn, givenAccuracy: givenOk / tn }

    function* predictions(): Generator<PredictionRow> {
      for (let r = 0; r < result.n; r++) {
        yield {
          sampleId: ts.sampleIds[r]!,
          refined: result.refined[r]!,
          prob: result.confidence[r]!,
          top1: result.top1[r]!,
          top1Prob: result.top1Prob[r]!,
          top2: result.top2[r]!,
          top2Prob: result.top2Prob[r]!,
          flagged: result.flagged[r]! ? 1 : 0,
          rank: result.rank[r]! > 0 ? result.rank[r]! : null,
        }
      }
      for (let r = 0; r < other.x.n; r++) {
        const g = other.given[r]!
        const refined = otherTop.top1[r]!
        yield {
          sampleId: other.sampleIds[r]!,
          refined,
          prob: otherTop.top1Prob[r]!,
          top1: refined,
          top1Prob: otherTop.top1Prob[r]!,
          top2: otherTop.top2[r]!,
          top2Prob: otherTop.top2Prob[r]!,
          flagged: g >= 0 && g !== refined && !other.decided[r] ? 1 : 0,
          rank: null,
        }
      }
    }
    completeRun(db, runId, { method: result.method, timings: result.timings, metrics, predictions: predictions() })
    return { runId, result, metrics }
  } catch (e) {
    failRun(db, runId, e instanceof CancelledError || opts.signal?.aborted ? 'cancelled' : 'failed', (e as Error).message ?? String(e))
    throw e
  }
}

/**
 * Clamps the rows with a clean label (see the module comment). A reviewed row: refined = the
 * decision with probability 1, never flagged (the reviewer has settled it). A trusted row:
 * refined = trusted label with probability 1, flagged where the given label differs, and those
 * flags ranked first. Every other row keeps the run's output; flags are recomputed against the
 * given label.
 */
export function clampKnown(r: RefineResult, ts: Pick<ProjectTrainingSet, 'trusted' | 'given' | 'reviewed'>): RefineResult {
  if (!ts.trusted.some((t) => t >= 0) && !ts.reviewed.some((t) => t >= 0)) return r
  const n = r.n
  const refined = Int32Array.from(r.refined)
  const confidence = Float32Array.from(r.confidence)
  const flagged = new Uint8Array(n)
  const certainty = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const v = ts.reviewed[i]!
    const t = ts.trusted[i]!
    if (v >= 0) {
      refined[i] = v
      confidence[i] = 1
      certainty[i] = 0
      flagged[i] = 0
      continue
    }
    if (t >= 0) {
      refined[i] = t
      confidence[i] = 1
      certainty[i] = 2 // above any probability: audited corrections come first
    } else certainty[i] = confidence[i]!
    const g = ts.given[i]!
    flagged[i] = g >= 0 && refined[i] !== g ? 1 : 0
  }
  const order: number[] = []
  for (let i = 0; i < n; i++) if (flagged[i]) order.push(i)
  order.sort((a, b) => certainty[b]! - certainty[a]! || a - b)
  const rank = new Int32Array(n)
  order.forEach((i, k) => (rank[i] = k + 1))
  return { ...r, refined, confidence, flagged, rank }
}
