/**
 * The final-label rule: which label a sample ends up with. Written once here, in plain TypeScript
 * so that both the engine and the renderer use it:
 * - the engine (electron/engine/store/labels.ts re-exports it): review.ts `currentLabels` and so
 *   every export and the export preview; store/labels.ts keeps `finalLabelSql` beside it, the same
 *   rule as an SQL expression for the read model's `final` column and its `classBy: 'final'`
 *   filter (test/engine/store/final-label.test.ts checks that the two and the exported CSV agree);
 * - the renderer (renderer/src/stores/review.ts): the label a decision leaves on a row, shown at
 *   once before the engine answers.
 *
 * The rule, in order:
 * 1. excluded by the reviewer: no label (left out of exports unless asked);
 * 2. a standing review decision (accept, keep, relabel; the latest one not undone): the class it
 *    recorded (accept records the run's refined label at that moment);
 * 3. with auto-accept only: an unreviewed sample the run flagged takes the run's refined label;
 * 4. otherwise the given label (null when the sample has none): a suggestion is never applied
 *    silently.
 */
import type { ReviewStatus } from './contract.ts'

export type { ReviewStatus }

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

/** The rule in words, as an export's provenance records it. */
export function finalLabelRuleText(autoAccept = false): string {
  return autoAccept ? 'review decision; else refined label for flagged samples (auto-accept); else given label' : 'review decision; else given label'
}
