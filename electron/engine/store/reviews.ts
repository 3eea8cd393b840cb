/**
 * Repository of `review_events`, the append-only review log (the table's triggers refuse updates
 * and deletes): decisions and undos are inserted, never changed. Replaying the log into each
 * sample's state is review/review.ts `reviewState`; the read model does the same in SQL
 * (read-model.ts `REVIEW_CTE`).
 */
import type { Db } from './db.ts'

export type ReviewEventAction = 'accept' | 'keep' | 'relabel' | 'exclude' | 'undo'

/** A review event as stored. */
export interface ReviewEventRow {
  id: number
  sampleId: number
  runId: number | null
  action: ReviewEventAction
  /** The label decided (accept/keep/relabel); null for exclude and undo. */
  classIdx: number | null
  /** undo: the event it cancels. */
  undoes: number | null
  reviewer: string
  at: string
}

/** Appends an event; returns its id. */
export function insertReviewEvent(db: Db, e: Omit<ReviewEventRow, 'id'>): number {
  return Number(
    db
      .prepare('INSERT INTO review_events (sample_id, run_id, action, class_idx, undoes, reviewer, at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(e.sampleId, e.runId, e.action, e.classIdx, e.undoes, e.reviewer, e.at).lastInsertRowid,
  )
}

/** The reviewer's latest decision (not an undo) that no undo points at yet, or undefined. */
export function latestUndoableEvent(db: Db, reviewer: string): { id: number; sampleId: number; runId: number | null } | undefined {
  return db
    .prepare(
      `SELECT e.id, e.sample_id AS sampleId, e.run_id AS runId FROM review_events e
       WHERE e.reviewer = ? AND e.action != 'undo'
         AND NOT EXISTS (SELECT 1 FROM review_events u WHERE u.undoes = e.id)
       ORDER BY e.id DESC LIMIT 1`,
    )
    .get(reviewer) as { id: number; sampleId: number; runId: number | null } | undefined
}

/** The events in log (id) order: all of them, or those of `sampleIds`. */
/** The id of the newest review event (0 when there is none): what a run read of the log, for "decided since". */
export function lastReviewEventId(db: Db): number {
  return (db.prepare('SELECT coalesce(max(id), 0) AS id FROM review_events').get() as { id: number }).id
}

/** Review events in log order: of some samples only, and/or only those after event `afterId`. */
export function reviewEvents(db: Db, sampleIds?: number[], opts: { afterId?: number } = {}): ReviewEventRow[] {
  const conds: string[] = []
  if (sampleIds) conds.push(`sample_id IN (${sampleIds.filter(Number.isInteger).join(',') || 'NULL'})`)
  if (opts.afterId !== undefined) conds.push('id > @afterId')
  const where = conds.length ? `WHERE ${conds.join(' AND ')}` : ''
  return db
    .prepare(
      `SELECT id, sample_id AS sampleId, run_id AS runId, action, class_idx AS classIdx, undoes, reviewer, at FROM review_events ${where} ORDER BY id`,
    )
    .all(opts.afterId !== undefined ? { afterId: opts.afterId } : {}) as ReviewEventRow[]
}
