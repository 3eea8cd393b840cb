/**
 * Where a run's suggestion comes from when the run clamped it (electron/engine/train/project.ts,
 * clampKnown): a trusted label or a review decision, stored with probability 1. The model's own
 * probabilities are then not what made the suggestion, so the screens say which it is instead of
 * "100%".
 */
import type { SampleRow } from '../../shared/contract.ts'

export type SuggestionSource = 'trusted' | 'decision'

export function clampedSource(r: Pick<SampleRow, 'confidence' | 'status' | 'refined' | 'final' | 'trusted'>): SuggestionSource | null {
  if (r.confidence !== 1) return null
  if (r.status !== 'unreviewed' && r.status !== 'excluded' && r.refined === r.final) return 'decision'
  if (r.trusted !== null && r.refined === r.trusted) return 'trusted'
  return null
}
