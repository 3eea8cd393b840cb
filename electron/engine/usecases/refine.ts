/**
 * Use case: refine the labels of a project. The one function behind `qc refine`, `qc run`,
 * `qc demo`, the app's Pipeline screen (service `startRun`) and the app's demo button: it runs
 * the refinement (method 'auto' by default: teacher, SD rounds or PLL, chosen by held-out
 * validation on the given labels), stores the run, and says in plain words what was chosen, why,
 * and what the user should be warned about.
 */
import { staged, type Progress, type Stage } from '../jobs/progress.ts'
import { listClasses, type Db } from '../store/db.ts'
import { backboneDim, flaggedCount } from '../store/runs.ts'
import { refineProject, type ProjectRefineOptions } from '../train/project.ts'
import { runWarnings, selectionView, type SelectionView } from '../train/run-report.ts'
import type { Method, RefineMethod } from '../train/types.ts'

export { candidateLabel, runWarnings, selectionView, type CandidateView, type SelectionView } from '../train/run-report.ts'

/** What a front end asks for; anything left out takes the engine's default ('auto' where it exists). */
export type RefineRequest = Omit<ProjectRefineOptions, 'signal' | 'progress' | 'method'> & { method?: RefineMethod }

export interface UseCaseContext {
  progress?: Progress
  signal?: AbortSignal
}

export interface RefineOutcome {
  runId: number
  /** The method that ran (for 'auto', the one chosen). */
  method: Method
  requested: RefineMethod
  chosen: Record<string, unknown>
  /** Training samples flagged (of `n`). */
  flagged: number
  n: number
  /** Other samples the run flagged for review (the test split, review-excluded training samples), predicted out of sample. */
  flaggedOther: number
  timings: Record<string, number>
  selection: SelectionView | null
  /** Plain-words warnings (indistinguishable scores, lambda at the edge of its grid, unidentifiable noise, n <= d). */
  warnings: string[]
  /** The audit of the given labels: on samples with a trusted label, the share of given labels that are right (model-free). */
  trusted: { samples: number; givenAccuracy: number } | null
}

/**
 * The stages of a refinement, weighted by their share of the time on the demo (500 images, 3104-d,
 * 2 cores: loading and preparing the features 2.6 s, the held-out choice 4.7 s, the final fits
 * 0.3 s; out-of-fold suggestions, when asked, several final fits more).
 */
export const REFINE_STAGES: readonly Stage[] = [
  { key: 'prepare', phases: ['prepare'], weight: 2.6 },
  { key: 'choose', phases: ['select'], weight: 4.7 },
  { key: 'train', phases: ['teacher', 'pll', 'sd', 'cl', 'lbfgs', 'sgd'], weight: 0.3 },
  { key: 'cross-fit', phases: ['cross-fit'], weight: 3 },
]

/** Runs a refinement on the project and returns what it chose, why, and the warnings. */
export async function refine(db: Db, req: RefineRequest, ctx: UseCaseContext = {}): Promise<RefineOutcome> {
  const requested: RefineMethod = req.method ?? 'auto'
  const progress = ctx.progress ? staged(ctx.progress, REFINE_STAGES) : undefined
  // The features load and the selection prepares its bases before the first event of its own.
  progress?.({ phase: 'prepare', done: 0, total: 1 })
  const { runId, result, metrics } = await refineProject(db, {
    ...req,
    method: requested,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    ...(progress ? { progress } : {}),
  })
  const classes = listClasses(db).map((c) => c.name)
  const warnings = runWarnings(metrics, classes, backboneDim(db, metrics.backboneId))
  const flagged = result.flagged.reduce((a, b) => a + b, 0)
  const all = flaggedCount(db, runId)
  return {
    runId,
    method: result.method,
    requested,
    chosen: result.chosen,
    flagged,
    n: result.n,
    flaggedOther: all - flagged,
    timings: result.timings,
    selection: selectionView(metrics, metrics.trainClassCounts),
    warnings,
    trusted: (metrics.trusted as RefineOutcome['trusted'] | undefined) ?? null,
  }
}
