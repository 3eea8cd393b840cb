/**
 * Use case: refresh the suggestions after review decisions (issue 8, "review in the loop"). Re-runs
 * the latest finished refinement with the same method, lambda, rounds, PLL loss, backbone and
 * seed (no new held-out selection: the choice stands, so it takes one final fit, seconds rather
 * than the minutes of a search) and the standing review decisions as clean, clamped labels
 * (train/project.ts, `useReviews`). Returns the new run and how many suggestions changed on the
 * samples nobody has reviewed: those are the ones the inspector's decisions taught the model about.
 * Nothing a reviewer decided is touched: the review log is append-only and a run never writes to it.
 */
import { reviewState } from '../review/review.ts'
import type { Db } from '../store/db.ts'
import { reviewEvents } from '../store/reviews.ts'
import { latestDoneRunId, runChoice, runMetrics, runSuggestions } from '../store/runs.ts'
import type { Method, PllLoss } from '../train/types.ts'
import { refine, type RefineOutcome, type UseCaseContext } from './refine.ts'

export interface RefreshOutcome extends RefineOutcome {
  /** The run whose choice was kept and against which changes are counted. */
  fromRunId: number
  /** Unreviewed samples whose suggestion (refined label or flag) differs from the previous run's. */
  changed: number
  /** Of those: newly flagged, and no longer flagged. */
  newlyFlagged: number
  unflagged: number
  /** Standing review decisions the run trained on (as clean labels, or left out when excluded). */
  reviewed: number
  /** Samples decided (or undone) while the run trained: not in this run, they count in the next one. */
  decidedDuring: number
}

export async function refreshSuggestions(db: Db, req: { fromRunId?: number } = {}, ctx: UseCaseContext = {}): Promise<RefreshOutcome> {
  const fromRunId = req.fromRunId ?? latestDoneRunId(db)
  if (fromRunId === undefined) throw new Error('refresh: no finished refinement run in this project yet; run one first')
  const base = runChoice(db, fromRunId)
  if (!base) throw new Error(`refresh: run ${fromRunId} does not exist`)
  const c = base.chosen
  const method = (c.method ?? base.method) as Method
  const lambda = Number(c.lambda)
  if (!['teacher', 'sd', 'pll', 'cl'].includes(method) || !(lambda >= 0))
    throw new Error(`refresh: run ${fromRunId} recorded no method and lambda to keep (method ${String(method)}, lambda ${String(c.lambda)})`)
  const out = await refine(
    db,
    {
      method,
      lambda,
      seed: base.seed,
      useReviews: true,
      ...(base.backboneId !== null ? { backboneId: base.backboneId } : {}),
      ...(typeof c.rounds === 'number' ? { rounds: c.rounds } : {}),
      ...(c.pllLoss === 'gce' || c.pllLoss === 'ce' ? { pllLoss: c.pllLoss as PllLoss } : {}),
      ...(typeof base.params.bias === 'boolean' ? { bias: base.params.bias } : {}),
      ...(typeof base.params.standardize === 'boolean' ? { standardize: base.params.standardize } : {}),
      ...(typeof base.params.engine === 'string' ? { engine: base.params.engine as 'ort' | 'tfjs' } : {}),
      ...(typeof base.params.crossFit === 'boolean' ? { crossFit: base.params.crossFit } : {}),
    },
    ctx,
  )
  const before = runSuggestions(db, fromRunId)
  const after = runSuggestions(db, out.runId)
  // What the run read (train/project.ts records it): the decisions standing then, and the newest
  // review event it saw; anything newer was decided (or undone) while it trained.
  const m = runMetrics(db, out.runId)
  const reviewed = Number(m.reviewedInTraining ?? 0) + Number(m.excludedByReview ?? 0)
  const upTo = Number(m.reviewsUpTo ?? 0)
  const state = reviewState(db)
  const since = new Set(reviewEvents(db, undefined, { afterId: upTo }).map((e) => e.sampleId))
  const decidedDuring = since.size
  let changed = 0
  let newlyFlagged = 0
  let unflagged = 0
  for (const [id, a] of after) {
    // Counted on samples nobody has decided, then or since.
    if ((state.get(id)?.status ?? 'unreviewed') !== 'unreviewed' || since.has(id)) continue
    const b = before.get(id)
    if (!b) continue
    if (b.refined !== a.refined || b.flagged !== a.flagged) changed++
    if (!b.flagged && a.flagged) newlyFlagged++
    if (b.flagged && !a.flagged) unflagged++
  }
  return { ...out, fromRunId, changed, newlyFlagged, unflagged, reviewed, decidedDuring }
}
