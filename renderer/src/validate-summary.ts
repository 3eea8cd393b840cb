/**
 * What the Validate screen says around a sweep: the time a planned sweep will take (from timings
 * already measured in this project) and the winner of a finished one (the HTML report's rule,
 * electron/engine/validate/report/html.ts "At a glance").
 */
import type { RunSummary, ValidationDetail } from '../../shared/contract.ts'

/** A planned sweep's estimated wall time, and where the per-training time came from. */
export interface SweepEstimate {
  seconds: number
  source: string
}

/**
 * Estimated wall seconds of a sweep of `trainings` cells, `perMethod` of them for each method.
 * Per method, the mean `seconds` of that method's finished cells in the latest sweep that has
 * any; a method never measured takes the mean over all measured cells; with no sweep measured,
 * the latest finished refinement's final fit stands for one training (its wall time less the
 * seconds its held-out selection spent on candidates). Null when nothing has been timed yet.
 */
export function estimateSweep(perMethod: Record<string, number>, lastSweep: ValidationDetail | null, runs: RunSummary[]): SweepEstimate | null {
  const trainings = Object.values(perMethod).reduce((a, b) => a + b, 0)
  if (trainings === 0) return null
  const cells = (lastSweep?.cells ?? []).filter((c) => c.error === null && typeof c.metrics.seconds === 'number')
  if (cells.length) {
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
    const all = mean(cells.map((c) => c.metrics.seconds!))
    let seconds = 0
    for (const [m, n] of Object.entries(perMethod)) {
      // The engine names SD's rounds 'sd-1'..'sd-t'; the form asks for 'sd'.
      const own = cells.filter((c) => c.method === m || (m === 'sd' && c.method.startsWith('sd-'))).map((c) => c.metrics.seconds!)
      seconds += n * (own.length ? mean(own) : all)
    }
    return { seconds, source: `timings of sweep #${lastSweep!.id} (${cells.length} trainings)` }
  }
  const run = runs.find((r) => r.status === 'done' && r.finishedAt)
  if (run) {
    // A run that chose its method spent selection.seconds fitting candidates on folds; the rest is
    // its one final fit (with its bookkeeping), the closest to one training of a sweep.
    const wall = (Date.parse(run.finishedAt!) - Date.parse(run.startedAt)) / 1000
    const rest = wall - (run.selection?.seconds ?? 0)
    const one = rest > 0.2 ? rest : wall
    if (isFinite(one) && one > 0)
      return { seconds: one * trainings, source: `the latest refinement (run #${run.id}, ${formatDuration(one)} per training)` }
  }
  return null
}

/** "about 40 s", "about 3 min", "about 1 h 20 min". */
export function formatDuration(s: number): string {
  if (s < 60) return `${Math.max(1, Math.round(s))} s`
  if (s < 3600) return `${Math.round(s / 60)} min`
  const h = Math.floor(s / 3600)
  return `${h} h ${Math.round((s - h * 3600) / 60)} min`
}

/** One noise setting's best method, and the runner-up when the win is within the seeds' spread. */
export interface SettingWinner {
  noiseType: string
  rate: number
  method: string
  trustedAccuracy: number
  tieWith: string | null
  notIdentifiable: boolean
  /** Training labels right before cleaning and after the best method, when it leaves fewer right (keep the given labels there). */
  worseThanGiven: { before: number; after: number } | null
}

/** A finished sweep's winner: per setting, and methods ranked by the settings they win. */
export interface SweepWinner {
  settings: SettingWinner[]
  ranked: { method: string; wins: number }[]
}

/**
 * The HTML report's rule: the engine's best method per (noise type, rate) by mean trusted
 * accuracy; a win by no more than the larger standard deviation over seeds of the best and the
 * runner-up is a tie; methods ranked by the number of settings they win; a setting where even the
 * winner leaves fewer training labels right than the given ones says so (keep the given labels).
 */
export function sweepWinner(v: ValidationDetail): SweepWinner | null {
  if (!v.best.length) return null
  const settings = v.best.map((b) => {
    const same = v.summary.filter((s) => s.noiseType === b.noiseType && s.rate === b.rate)
    const bestRow = same.find((s) => s.method === b.method)
    const runnerUp = same
      .filter((s) => s.method !== b.method && s.mean.trustedAccuracy !== undefined)
      .sort((x, y) => y.mean.trustedAccuracy! - x.mean.trustedAccuracy!)[0]
    const spread = Math.max(bestRow?.std.trustedAccuracy ?? 0, runnerUp?.std.trustedAccuracy ?? 0)
    const clear = !runnerUp || b.trustedAccuracy - runnerUp.mean.trustedAccuracy! > spread
    const model = v.noiseModels.find((m) => m.noiseType === b.noiseType && m.rate === b.rate)
    return {
      noiseType: b.noiseType,
      rate: b.rate,
      method: b.method,
      trustedAccuracy: b.trustedAccuracy,
      tieWith: clear ? null : runnerUp!.method,
      notIdentifiable: b.noiseType !== 'none' && !!model && !model.identifiable,
      // Only against a known truth: otherwise "labels correct" is agreement with the given labels,
      // which a method that corrects wrong labels lowers.
      worseThanGiven:
        v.truthKnown === true &&
        bestRow?.mean.givenAccuracy !== undefined &&
        bestRow.mean.recovery !== undefined &&
        bestRow.mean.recovery < bestRow.mean.givenAccuracy
          ? { before: bestRow.mean.givenAccuracy, after: bestRow.mean.recovery }
          : null,
    }
  })
  const wins = new Map<string, number>()
  for (const s of settings) wins.set(s.method, (wins.get(s.method) ?? 0) + 1)
  const ranked = [...wins.entries()].sort((a, b) => b[1] - a[1]).map(([method, n]) => ({ method, wins: n }))
  return { settings, ranked }
}
