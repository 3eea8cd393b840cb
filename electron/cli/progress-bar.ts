/**
 * Renders engine progress events for a terminal: one redrawn line on a TTY, one JSON line per
 * event with --json (machines), nothing otherwise except phase changes.
 */
import type { Progress, ProgressEvent } from '../engine/jobs/progress.ts'
import { throttled } from '../engine/jobs/progress.ts'

function fmtSeconds(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '--:--'
  const m = Math.floor(s / 60)
  const r = Math.round(s % 60)
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}:${String(r).padStart(2, '0')}`
}

/** One progress line: `extract  [#####.....]  512/2000  85.3/s  ETA 0:17  message`. */
export function formatProgress(e: ProgressEvent, width = 24): string {
  const frac = e.total > 0 ? Math.min(1, e.done / e.total) : 0
  const filled = Math.round(frac * width)
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled)
  const rate = e.rate !== undefined && Number.isFinite(e.rate) ? `${e.rate >= 100 ? e.rate.toFixed(0) : e.rate.toFixed(1)}/s` : ''
  const parts = [e.phase.padEnd(9), `[${bar}]`, `${e.done}/${e.total}`, rate, `ETA ${fmtSeconds(e.etaSeconds)}`]
  if (e.message) parts.push(e.message)
  return parts.filter(Boolean).join('  ')
}

export interface Reporter {
  progress: Progress
  /** Ends the current line so that following output starts clean. */
  done(): void
}

/** A reporter for the CLI: a redrawn bar on a TTY, JSON lines with `json`, quiet otherwise. */
export function cliReporter(opts: { json: boolean; stream?: NodeJS.WriteStream }): Reporter {
  const out = opts.stream ?? process.stderr
  let open = false
  let lastPhase = ''
  if (opts.json) {
    return {
      progress: throttled((e) => out.write(JSON.stringify({ event: 'progress', ...e }) + '\n'), 500),
      done: () => {},
    }
  }
  if (!out.isTTY) {
    return {
      progress: throttled((e) => {
        if (e.phase !== lastPhase || e.done >= e.total) {
          if (e.done >= e.total) out.write(formatProgress(e) + '\n')
          lastPhase = e.phase
        }
      }, 1000),
      done: () => {},
    }
  }
  return {
    progress: throttled((e) => {
      if (open && e.phase !== lastPhase) out.write('\n')
      lastPhase = e.phase
      const cols = out.columns ?? 100
      out.write(
        '\r' +
          formatProgress(e)
            .slice(0, cols - 1)
            .padEnd(Math.min(cols - 1, 100)),
      )
      open = true
    }, 100),
    done: () => {
      if (open) out.write('\n')
      open = false
    },
  }
}
