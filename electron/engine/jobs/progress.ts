/**
 * Progress reporting and cancellation shared by every long operation (import, extraction,
 * training, validation). Operations take a `Progress` reporter and an `AbortSignal`; the CLI
 * renders progress as a TTY bar or JSON lines, the server forwards it as events, the app as IPC.
 */

export interface ProgressEvent {
  /** Short phase name, e.g. 'import', 'extract', 'teacher', 'pll'. */
  phase: string
  done: number
  total: number
  /** Items per second over the recent window, when meaningful. */
  rate?: number
  /** Seconds left at the current rate. */
  etaSeconds?: number
  message?: string
  /** Where the whole operation stands, for an operation of several stages (filled in by `staged`). */
  overall?: OverallProgress
}

/** Progress over every stage of an operation (the demo: generate, import, extract, choose, train...). */
export interface OverallProgress {
  /** 0..1 over all stages, each weighted by its usual share of the time; never goes back. */
  fraction: number
  /** The current stage's key (see `Stage.key`). */
  stage: string
  /** 1-based place of the stage, and how many stages there are. */
  step: number
  steps: number
}

/** One stage of a multi-stage operation. */
export interface Stage {
  /** A short key the front ends put into words ('generate', 'import', 'extract', 'prepare', 'choose', 'train', 'compare', 'export'). */
  key: string
  /** The phases of the events that belong to it: an exact name, or a prefix followed by a space ('sd' matches 'sd round 2'). */
  phases: readonly string[]
  /** Its usual share of the time (any unit: measured seconds, say); the fractions are weighted by it. */
  weight: number
}

export type Progress = (e: ProgressEvent) => void

export const noProgress: Progress = () => {}

/**
 * Wraps a reporter so that it forwards at most one event per `intervalMs` (the last of a phase
 * and any phase change always go through), and fills in rate and ETA.
 */
export function throttled(report: Progress, intervalMs = 200): Progress {
  let last = 0
  let phase = ''
  let start = 0
  let startDone = 0
  return (e) => {
    const t = Date.now()
    if (e.phase !== phase) {
      phase = e.phase
      start = t
      startDone = e.done
      last = 0
    }
    const final = e.done >= e.total
    if (!final && t - last < intervalMs) return
    last = t
    const dt = (t - start) / 1000
    const rate = e.rate ?? (dt > 0 ? (e.done - startDone) / dt : undefined)
    const etaSeconds = e.etaSeconds ?? (rate && rate > 0 ? (e.total - e.done) / rate : undefined)
    report({ ...e, rate, etaSeconds })
  }
}

function inStage(stage: Stage, phase: string): boolean {
  return stage.phases.some((p) => phase === p || phase.startsWith(`${p} `))
}

/**
 * Wraps a reporter for an operation of several stages: every event gets `overall`, the fraction of
 * the whole operation (the stages before it by weight, plus this stage's weight times its
 * done / total). Stages only move forward: an event whose phase belongs to no later stage counts
 * in the current one. The fraction never decreases (a stage's inner phases may restart their
 * counts, as the teacher and then the student do in 'train'). An `overall` the event already
 * carries (a nested operation's own stages) is replaced.
 */
export function staged(report: Progress, stages: readonly Stage[]): Progress {
  const weights = stages.map((s) => Math.max(0, s.weight))
  const sum = weights.reduce((a, b) => a + b, 0) || 1
  let at = 0
  let best = 0
  return (e) => {
    const i = stages.findIndex((s, j) => j >= at && inStage(s, e.phase))
    if (i >= 0) at = i
    const before = weights.slice(0, at).reduce((a, b) => a + b, 0)
    const inner = e.total > 0 ? Math.min(1, Math.max(0, e.done / e.total)) : 0
    best = Math.min(1, Math.max(best, (before + weights[at]! * inner) / sum))
    report({ ...e, overall: { fraction: best, stage: stages[at]!.key, step: at + 1, steps: stages.length } })
  }
}

/** Thrown when an operation stops because its AbortSignal fired. */
export class CancelledError extends Error {
  constructor(what = 'operation') {
    super(`${what} cancelled`)
    this.name = 'CancelledError'
  }
}

export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw new CancelledError(what)
}
