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
