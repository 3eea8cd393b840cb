/**
 * Use case: refine the labels of a project. The one function behind `qc refine`, `qc run`,
 * `qc demo`, the app's Pipeline screen (service `startRun`) and the app's demo button: it runs
 * the refinement (method 'auto' by default: teacher, SD rounds or PLL, chosen by held-out
 * validation on the given labels), stores the run, and says in plain words what was chosen, why,
 * and what the user should be warned about.
 */
import type { Progress } from '../jobs/progress.ts'
import { listClasses, type Db } from '../store/db.ts'
import { backboneDim } from '../store/runs.ts'
import { refineProject, type ProjectRefineOptions } from '../train/project.ts'
import { warningText, type SelectionWarning } from '../train/selection.ts'
import type { Method, RefineMethod } from '../train/types.ts'

/** What a front end asks for; anything left out takes the engine's default ('auto' where it exists). */
export type RefineRequest = Omit<ProjectRefineOptions, 'signal' | 'progress' | 'method'> & { method?: RefineMethod }

export interface UseCaseContext {
  progress?: Progress
  signal?: AbortSignal
}

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

export interface RefineOutcome {
  runId: number
  /** The method that ran (for 'auto', the one chosen). */
  method: Method
  requested: RefineMethod
  chosen: Record<string, unknown>
  flagged: number
  n: number
  timings: Record<string, number>
  selection: SelectionView | null
  /** Plain-words warnings (indistinguishable scores, lambda at the edge of its grid, unidentifiable noise, n <= d). */
  warnings: string[]
  /** The audit of the given labels: on samples with a trusted label, the share of given labels that are right (model-free). */
  trusted: { samples: number; givenAccuracy: number } | null
}

/** Display name of a selection candidate. */
export function candidateLabel(c: string): string {
  if (c === 'teacher') return 'Teacher'
  if (c.startsWith('sd')) return `SD, ${c.slice(2)} round${c.slice(2) === '1' ? '' : 's'}`
  if (c === 'pll-gce') return 'PLL (generalised CE)'
  if (c === 'pll-ce') return 'PLL (CE on ½, ½)'
  return c
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

/** Runs a refinement on the project and returns what it chose, why, and the warnings. */
export async function refine(db: Db, req: RefineRequest, ctx: UseCaseContext = {}): Promise<RefineOutcome> {
  const requested: RefineMethod = req.method ?? 'auto'
  const { runId, result, metrics } = await refineProject(db, {
    ...req,
    method: requested,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    ...(ctx.progress ? { progress: ctx.progress } : {}),
  })
  const classes = listClasses(db).map((c) => c.name)
  const warnings = runWarnings(metrics, classes, backboneDim(db, metrics.backboneId))
  const flagged = result.flagged.reduce((a, b) => a + b, 0)
  return {
    runId,
    method: result.method,
    requested,
    chosen: result.chosen,
    flagged,
    n: result.n,
    timings: result.timings,
    selection: selectionView(metrics, metrics.trainClassCounts),
    warnings,
    trusted: (metrics.trusted as RefineOutcome['trusted'] | undefined) ?? null,
  }
}
