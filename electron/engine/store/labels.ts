/**
 * The final-label rule: which label a sample ends up with. The rule itself (`finalLabel`, its
 * documentation and `finalLabelRuleText`) lives in shared/final-label.ts, so that the renderer uses
 * the same function; it is re-exported here for the engine (review.ts `currentLabels`, and so every
 * export and the export preview). Beside it, `finalLabelSql` is the same rule as an SQL expression,
 * used by the read model's `final` column (its `classBy: 'final'` filter included): the two are
 * the same rule, step for step, and change together. test/engine/store/final-label.test.ts checks
 * on every review state that the two and the exported CSV agree.
 */
import type { Db } from './db.ts'
import { finalLabel, finalLabelRuleText, type FinalLabelInput, type FinalSource, type ReviewStatus } from '../../../shared/final-label.ts'

export { finalLabel, finalLabelRuleText }
export type { FinalLabelInput, FinalSource, ReviewStatus }

/** SQL column expressions `finalLabelSql` is written over. */
export interface FinalLabelColumns {
  /** The standing decision's action ('accept' | 'keep' | 'relabel' | 'exclude'), NULL when unreviewed. */
  action: string
  /** The standing decision's class_idx. */
  decided: string
  given: string
  refined: string
  /** predictions.flagged (1 / 0 / NULL). */
  flagged: string
}

/**
 * `finalLabel` (shared/final-label.ts) as an SQL CASE expression over the given columns: the same
 * rule, step for step; a change to one is a change to both.
 * The standing decision comes from read-model.ts `REVIEW_CTE` (`rev.action`, `rev.class_idx`).
 */
export function finalLabelSql(c: FinalLabelColumns, autoAccept = false): string {
  const auto = autoAccept ? ` WHEN ${c.flagged} = 1 AND ${c.refined} IS NOT NULL THEN ${c.refined}` : ''
  return `CASE WHEN ${c.action} = 'exclude' THEN NULL WHEN ${c.action} IS NOT NULL THEN ${c.decided}${auto} ELSE ${c.given} END`
}

/**
 * One sample's label inputs, as raw columns in this order: id, path, split, hash, given idx,
 * refined idx, prob, flagged (0/1), rank, top1 idx, top1 prob, top2 idx, top2 prob. The run's
 * columns are null without a prediction.
 */
export type SampleLabelTuple = [
  number,
  string,
  'train' | 'test',
  string,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
]

/**
 * Every sample in id order with its given label and the run's prediction (`runId` null: none).
 * Raw rows (arrays): this runs over every sample of the project.
 */
export function sampleLabelInputs(db: Db, runId: number | null): SampleLabelTuple[] {
  return db
    .prepare(
      `SELECT s.id, s.path, s.split, s.hash, g.idx, p.refined_idx, p.prob, p.flagged, p.rank,
              p.top1_idx, p.top1_prob, p.top2_idx, p.top2_prob
       FROM samples s
       LEFT JOIN classes g ON g.id = s.given_class_id
       LEFT JOIN predictions p ON p.sample_id = s.id AND p.run_id = ?
       ORDER BY s.id`,
    )
    .raw(true)
    .all(runId) as SampleLabelTuple[]
}
