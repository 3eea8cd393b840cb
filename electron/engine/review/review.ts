/**
 * The review log: every decision an inspector makes on a sample, append-only (the table's
 * triggers refuse updates and deletes). The current state of a sample is derived by replaying the
 * log: the latest decision that has not been undone wins. An undo is itself an event that points
 * at the decision it cancels, so the history always shows who did what and when.
 *
 * Actions: accept = take the run's refined label (recorded as the class it was at that moment, so
 * a later run does not change what was accepted); keep = keep the given label; relabel = a class
 * the reviewer picked; exclude = leave the sample out of exports.
 *
 * Final label (see `currentLabels`): the reviewer's decision when there is one; otherwise the
 * given label — a suggestion is never applied silently. With `autoAccept: true` an unreviewed
 * flagged sample takes the run's refined label instead (for users who trust the refinement and
 * only spot-check). The rule itself is store/labels.ts `finalLabel`, shared with the read model.
 */
import { listClasses, now, type Db } from '../store/db.ts'
import { finalLabel, sampleLabelInputs, type FinalSource, type ReviewStatus } from '../store/labels.ts'
import { insertReviewEvent, latestUndoableEvent, reviewEvents } from '../store/reviews.ts'
import { flaggedSampleIds, latestDoneRunId, refinedLabelOf, runStatus } from '../store/runs.ts'
import { getSample } from '../store/samples.ts'

export type { ReviewStatus } from '../store/labels.ts'
export { latestDoneRunId } from '../store/runs.ts'

export type ReviewAction = 'accept' | 'keep' | 'relabel' | 'exclude'

export interface Decision {
  sampleId: number
  action: ReviewAction
  /** relabel: the class idx chosen. */
  classIdx?: number
  /** accept: the run whose suggestion is taken (default: latest finished run). */
  runId?: number
  reviewer: string
}

export interface ReviewEvent {
  id: number
  sampleId: number
  runId: number | null
  action: ReviewAction | 'undo'
  classIdx: number | null
  undoes: number | null
  reviewer: string
  at: string
}

const STATUS: Record<ReviewAction, ReviewStatus> = { accept: 'accepted', keep: 'kept', relabel: 'relabelled', exclude: 'excluded' }

function resolveRun(db: Db, runId: number | undefined): number | undefined {
  if (runId === undefined) return latestDoneRunId(db)
  const status = runStatus(db, runId)
  if (status === undefined) throw new Error(`run ${runId} does not exist`)
  if (status !== 'done') throw new Error(`run ${runId} is ${status}, not done`)
  return runId
}

function decide(db: Db, d: Decision, at: string): ReviewEvent {
  const reviewer = d.reviewer?.trim()
  if (!reviewer) throw new Error('a review decision needs the reviewer name')
  if (!(d.action in STATUS)) throw new Error(`unknown review action '${d.action}' (accept, keep, relabel or exclude)`)
  const s = getSample(db, d.sampleId)
  if (!s) throw new Error(`sample ${d.sampleId} does not exist`)
  let classIdx: number | null = null
  let runId: number | null = null
  if (d.action === 'accept') {
    const run = resolveRun(db, d.runId)
    if (run === undefined) throw new Error('nothing to accept: no finished refinement run')
    const refined = refinedLabelOf(db, run, d.sampleId)
    if (refined === undefined) throw new Error(`run ${run} has no prediction for sample ${d.sampleId}`)
    classIdx = refined
    runId = run
  } else if (d.action === 'keep') {
    if (s.givenIdx === null) throw new Error(`sample ${d.sampleId} has no given label to keep; relabel it instead`)
    classIdx = s.givenIdx
    runId = d.runId ?? null
  } else if (d.action === 'relabel') {
    if (d.classIdx === undefined || !Number.isInteger(d.classIdx)) throw new Error('relabel needs a class')
    if (!listClasses(db).some((c) => c.idx === d.classIdx)) throw new Error(`class index ${d.classIdx} does not exist`)
    classIdx = d.classIdx
    runId = d.runId ?? null
  } else {
    runId = d.runId ?? null
  }
  const id = insertReviewEvent(db, { sampleId: d.sampleId, runId, action: d.action, classIdx, undoes: null, reviewer, at })
  return { id, sampleId: d.sampleId, runId, action: d.action, classIdx, undoes: null, reviewer, at }
}

/** Appends one decision to the review log; returns the stored event. */
export function recordDecision(db: Db, d: Decision): ReviewEvent {
  return db.transaction(() => decide(db, d, now()))()
}

/** Appends several decisions in one transaction (bulk accept of a selection): all or none. */
export function recordDecisions(db: Db, ds: Decision[]): ReviewEvent[] {
  const at = now()
  return db.transaction(() => ds.map((d) => decide(db, d, at)))()
}

/**
 * Undoes the reviewer's latest decision that is not undone yet, by appending an 'undo' event
 * pointing at it. Returns the undo event, or null when there is nothing left to undo.
 */
export function undoLast(db: Db, opts: { reviewer: string }): ReviewEvent | null {
  const reviewer = opts.reviewer?.trim()
  if (!reviewer) throw new Error('undo needs the reviewer name')
  return db.transaction(() => {
    const target = latestUndoableEvent(db, reviewer)
    if (!target) return null
    const at = now()
    const id = insertReviewEvent(db, {
      sampleId: target.sampleId,
      runId: target.runId,
      action: 'undo',
      classIdx: null,
      undoes: target.id,
      reviewer,
      at,
    })
    return { id, sampleId: target.sampleId, runId: target.runId, action: 'undo' as const, classIdx: null, undoes: target.id, reviewer, at }
  })()
}

export interface SampleReview {
  status: ReviewStatus
  /** The label the decision sets (null for exclude, or when every decision was undone). */
  finalIdx: number | null
  reviewer: string
  at: string
  /** The event that decides the state. */
  eventId: number
}

/**
 * Replays the log: for every sample that has events, the latest decision not undone. A sample
 * whose decisions were all undone is 'unreviewed' (reviewer/at of the last undo). Samples with no
 * events are absent: they are unreviewed.
 */
export function reviewState(db: Db, opts: { sampleIds?: number[] } = {}): Map<number, SampleReview> {
  const events: ReviewEvent[] = reviewEvents(db, opts.sampleIds)
  const undone = new Set<number>()
  for (const e of events) if (e.action === 'undo' && e.undoes !== null) undone.add(e.undoes)
  const out = new Map<number, SampleReview>()
  for (const e of events) {
    if (e.action === 'undo') {
      if (!out.has(e.sampleId)) out.set(e.sampleId, { status: 'unreviewed', finalIdx: null, reviewer: e.reviewer, at: e.at, eventId: e.id })
      continue
    }
    if (undone.has(e.id)) continue
    out.set(e.sampleId, {
      status: STATUS[e.action],
      finalIdx: e.action === 'exclude' ? null : e.classIdx,
      reviewer: e.reviewer,
      at: e.at,
      eventId: e.id,
    })
  }
  return out
}

/** Every event on one sample in order, each decision marked with whether it was undone. */
export function reviewHistory(db: Db, sampleId: number): (ReviewEvent & { undone: boolean })[] {
  const events: ReviewEvent[] = reviewEvents(db, [sampleId])
  const undone = new Set(events.filter((e) => e.action === 'undo').map((e) => e.undoes))
  return events.map((e) => ({ ...e, undone: undone.has(e.id) }))
}

/** One sample's labels: given, the run's suggestion, the review decision and the final label. */
export interface LabelRow {
  sampleId: number
  path: string
  split: 'train' | 'test'
  hash: string
  given: number | null
  givenLabel: string | null
  refined: number | null
  refinedLabel: string | null
  confidence: number | null
  flagged: boolean | null
  rank: number | null
  top1: number | null
  top1Label: string | null
  top1Prob: number | null
  top2: number | null
  top2Label: string | null
  top2Prob: number | null
  /** Final label idx; null when excluded or when the sample has no label at all. */
  final: number | null
  finalLabel: string | null
  status: ReviewStatus
  /** Where the final label came from. */
  finalSource: FinalSource
  reviewer: string | null
  reviewedAt: string | null
}

export interface CurrentLabels {
  /** The run used for suggestions, or null when the project has no finished run. */
  runId: number | null
  classes: string[]
  rows: LabelRow[]
}

/**
 * The labels of every sample (in id order) as they stand: given, the run's refined label and
 * top-2, the review state, and the final label (module comment: the decision, else the given
 * label, else with `autoAccept` the refined label for unreviewed flagged samples). Default run:
 * the latest finished ('done') run.
 */
export function currentLabels(db: Db, opts: { runId?: number; autoAccept?: boolean } = {}): CurrentLabels {
  const runId = resolveRun(db, opts.runId) ?? null
  const classes = listClasses(db)
  const nameOf = new Map(classes.map((c) => [c.idx, c.name]))
  const name = (i: number | null) => (i === null ? null : (nameOf.get(i) ?? null))
  // Raw rows (arrays) and one object per sample: this runs over every sample of the project.
  const rows = sampleLabelInputs(db, runId)
  const state = reviewState(db)
  const out: LabelRow[] = new Array(rows.length)
  for (let i = 0; i < rows.length; i++) {
    const [sampleId, path, split, hash, given, refined, confidence, flaggedInt, rank, top1, top1Prob, top2, top2Prob] = rows[i]!
    const st = state.get(sampleId)
    const status: ReviewStatus = st?.status ?? 'unreviewed'
    const flagged = flaggedInt === null ? null : flaggedInt === 1
    const { final, source: finalSource } = finalLabel({ status, decided: st?.finalIdx ?? null, given, refined, flagged }, opts.autoAccept)
    const reviewed = status !== 'unreviewed'
    out[i] = {
      sampleId,
      path,
      split,
      hash,
      given,
      givenLabel: name(given),
      refined,
      refinedLabel: name(refined),
      confidence,
      flagged,
      rank,
      top1,
      top1Label: name(top1),
      top1Prob,
      top2,
      top2Label: name(top2),
      top2Prob,
      final,
      finalLabel: name(final),
      status,
      finalSource,
      reviewer: reviewed ? st!.reviewer : null,
      reviewedAt: reviewed ? st!.at : null,
    }
  }
  return { runId, classes: classes.map((c) => c.name), rows: out }
}

/** Review progress for a run: flagged samples and how many of them have a live decision. */
export function reviewCounts(
  db: Db,
  opts: { runId?: number } = {},
): { runId: number | null; flagged: number; reviewed: number; byStatus: Record<ReviewStatus, number> } {
  const runId = resolveRun(db, opts.runId) ?? null
  const byStatus: Record<ReviewStatus, number> = { unreviewed: 0, accepted: 0, kept: 0, relabelled: 0, excluded: 0 }
  if (runId === null) return { runId, flagged: 0, reviewed: 0, byStatus }
  const ids = flaggedSampleIds(db, runId)
  const state = reviewState(db)
  for (const id of ids) byStatus[state.get(id)?.status ?? 'unreviewed']++
  return { runId, flagged: ids.length, reviewed: ids.length - byStatus.unreviewed, byStatus }
}
