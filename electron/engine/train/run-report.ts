/**
 * What a stored run says about its choice, in the words a front end shows: the held-out
 * selection's candidates, the reason, the baseline, and plain-words warnings. Pure functions over
 * a run's stored metrics (runs.metrics), used by the refine use case (CLI) and the read model (app).
 */
import { warningText, type SelectionWarning } from './selection.ts'

/** One candidate of the held-out selection, as a front end shows it. */
export interface CandidateView {
  candidate: string
  /** Human name: 'Teacher', 'SD, 2 rounds', 'PLL (generalised CE)'. */
  label: string
  lambda: number
  /** Held-out agreement with the given labels. */
  score: number
  /** Points behind the top candidate (0 for the top). */
  behind: number
  pairedSe: number
  chosen: boolean
}

export interface SelectionView {
  candidates: CandidateView[]
  reason: string
  /** Estimated share of wrong given labels (confident learning on the teacher's out-of-fold outputs). */
  estimatedNoise: number | null
  identifiable: boolean | null
  /** Held-out agreement of always answering the most frequent given class (the floor for the scores). */
  majorityBaseline: number
  rows: number
  folds: number
  seconds: number
}

interface StoredSelection {
  candidates: { candidate: string; lambda: number; score: number; behind: number; pairedSe: number }[]
  winner: { candidate: string }
  reason: string
  noise: { rate: number; identifiable: boolean } | null
  warnings: SelectionWarning[]
  rows: number
  folds: number
  ms: number
}

/** Display name of a selection candidate. */
export function candidateLabel(c: string): string {
  if (c === 'teacher') return 'Teacher'
  if (c.startsWith('sd')) return `SD, ${c.slice(2)} round${c.slice(2) === '1' ? '' : 's'}`
  if (c === 'pll-gce') return 'PLL (generalised CE)'
  if (c === 'pll-ce') return 'PLL (CE on ½, ½)'
  return c
}

/** The selection part of a run's metrics as a front end shows it (null when the run chose nothing). */
export function selectionView(metrics: Record<string, unknown>, givenCounts: number[]): SelectionView | null {
  const sel = metrics.selection as StoredSelection | undefined
  if (!sel || !Array.isArray(sel.candidates)) return null
  const total = givenCounts.reduce((a, b) => a + b, 0)
  return {
    candidates: sel.candidates.map((c) => ({
      candidate: c.candidate,
      label: candidateLabel(c.candidate),
      lambda: c.lambda,
      score: c.score,
      behind: c.behind,
      pairedSe: c.pairedSe,
      chosen: c.candidate === sel.winner.candidate,
    })),
    reason: sel.reason,
    estimatedNoise: sel.noise?.rate ?? null,
    identifiable: sel.noise?.identifiable ?? null,
    majorityBaseline: total > 0 ? Math.max(...givenCounts) / total : 0,
    rows: sel.rows,
    folds: sel.folds,
    seconds: sel.ms / 1000,
  }
}

/**
 * Plain-words warnings of a stored run, from its metrics: the selection's (indistinguishable
 * scores, lambda at the edge, unidentifiable noise, unconverged fits) and too few samples per
 * dimension when the run flagged almost nothing.
 */
export function runWarnings(metrics: Record<string, unknown>, classNames: string[], dim: number | null): string[] {
  const out: string[] = []
  const sel = metrics.selection as StoredSelection | undefined
  for (const w of sel?.warnings ?? []) out.push(warningText(w, (i) => classNames[i] ?? `class ${i}`))
  const n = Number(metrics.trainSamples ?? 0)
  const flagged = Number(metrics.flagged ?? 0)
  if (metrics.method !== 'cl' && dim !== null && n > 0 && n <= dim && metrics.crossFit !== true && flagged < 0.01 * n) {
    // With n <= d the regularised optimum can interpolate the given labels, so the in-sample
    // predictions that SD/PLL refine are the labels themselves (little or nothing is flagged).
    out.push(
      `Only ${n} training samples for ${dim} feature dimensions: the classifier can memorise the given labels, so few are flagged; more images, a smaller backbone, or out-of-fold suggestions help.`,
    )
  }
  return out
}
