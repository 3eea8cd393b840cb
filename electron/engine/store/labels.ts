/**
 * The final-label rule: which label a sample ends up with. Written once here, in two forms that
 * are the same rule — `finalLabel` (JavaScript, used by review.ts `currentLabels` and so by every
 * export and the export preview) and `finalLabelSql` (an SQL expression, used by the read model's
 * `final` column, its `classBy: 'final'` filter included). test/engine/store/final-label.test.ts
 * checks on every review state that the two and the exported CSV agree.
 *
 * The rule, in order:
 * 1. excluded by the reviewer: no label (left out of exports unless asked);
 * 2. a standing review decision (accept, keep, relabel; the latest one not undone): the class it
 *    recorded (accept records the run's refined label at that moment);
 * 3. with auto-accept only: an unreviewed sample the run flagged takes the run's refined label;
 * 4. otherwise the given label (null when the sample has none): a suggestion is never applied
 *    silently.
 */
import type { Db } from './db.ts'

export type ReviewStatus = 'unreviewed' | 'accepted' | 'kept' | 'relabelled' | 'excluded'

/** Which step of the rule decided a sample's final label. */
export type FinalSource = 'review' | 'given' | 'refined' | 'excluded'

/** What the rule looks at for one sample. */
export interface FinalLabelInput {
  /** The standing review state (the latest decision not undone; 'unreviewed' when none). */
  status: ReviewStatus
  /** The class idx the standing decision recorded (accept, keep, relabel); unused otherwise. */
  decided: number | null
  /** Given label idx, null when the sample has none. */
  given: number | null
  /** The run's refined label idx, null without a run or a prediction. */
  refined: number | null
  /** Whether the run flagged the sample; null without a prediction. */
  flagged: boolean | null
}

/** The final label idx (null: excluded, or no label at all) and the step of the rule that chose it. */
export function finalLabel(s: FinalLabelInput, autoAccept = false): { final: number | null; source: FinalSource } {
  if (s.status === 'excluded') return { final: null, source: 'excluded' }
  if (s.status !== 'unreviewed') return { final: s.decided, source: 'review' }
  if (autoAccept && s.flagged === true && s.refined !== null) return { final: s.refined, source: 'refined' }
  return { final: s.given, source: 'given' }
}

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
 * `finalLabel` as an SQL CASE expression over the given columns (the same rule, step for step).
 * The standing decision comes from read-model.ts `REVIEW_CTE` (`rev.action`, `rev.class_idx`).
 */
export function finalLabelSql(c: FinalLabelColumns, autoAccept = false): string {
  const auto = autoAccept ? ` WHEN ${c.flagged} = 1 AND ${c.refined} IS NOT NULL THEN ${c.refined}` : ''
  return `CASE WHEN ${c.action} = 'exclude' THEN NULL WHEN ${c.action} IS NOT NULL THEN ${c.decided}${auto} ELSE ${c.given} END`
}

/** The rule in words, as an export's provenance records it. */
export function finalLabelRuleText(autoAccept = false): string {
  return autoAccept ? 'review decision; else refined label for flagged samples (auto-accept); else given label' : 'review decision; else given label'
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
