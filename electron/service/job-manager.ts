/**
 * Long-running jobs of the engine service: an id, a throttled progress reporter, an
 * AbortController, and events for subscribers. A second request with the same key while the
 * first runs joins it instead of starting another (STYLE.md, "Jobs").
 */
import { randomUUID } from 'node:crypto'
import type { EngineEvent, JobInfo, JobKind, JobRef } from '../../shared/contract.ts'
import { CancelledError, throttled, type Progress, type ProgressEvent } from '../engine/jobs/progress.ts'

/** What a job body receives. */
export interface JobContext {
  progress: Progress
  signal: AbortSignal
}

interface JobEntry {
  info: JobInfo
  key: string
  /** What the job works on (a project file), so closing that project cancels only its jobs. */
  scope: string | undefined
  controller: AbortController
  done: Promise<unknown>
}

/** Finished jobs kept for `list()`; older ones are forgotten. */
const KEEP_FINISHED = 50

/** The whole job's share done only counts for an ETA after this long and this much, so the first guesses are not wild. */
const ETA_MIN_SECONDS = 1.5
const ETA_MIN_FRACTION = 0.02

/**
 * The whole job's fields of a progress event (contract JobProgress): the fraction over all its
 * stages (`staged` in engine/jobs/progress.ts) or, for a job of one phase, done / total; the
 * stage; and the job's ETA: the time so far scaled by what is left (stages are weighted by their
 * usual share of the time, so this is the honest estimate), or the phase's own ETA for one phase.
 */
export function overallOf(
  p: ProgressEvent,
  elapsedSeconds: number,
): { fraction?: number; stage?: { key: string; step: number; steps: number }; jobEtaSeconds?: number } {
  if (p.overall) {
    const f = Math.min(1, Math.max(0, p.overall.fraction))
    const eta = f >= ETA_MIN_FRACTION && elapsedSeconds >= ETA_MIN_SECONDS ? (elapsedSeconds * (1 - f)) / f : undefined
    return {
      fraction: f,
      stage: { key: p.overall.stage, step: p.overall.step, steps: p.overall.steps },
      ...(eta !== undefined && Number.isFinite(eta) ? { jobEtaSeconds: eta } : {}),
    }
  }
  const f = p.total > 0 ? Math.min(1, Math.max(0, p.done / p.total)) : undefined
  return {
    ...(f !== undefined ? { fraction: f } : {}),
    ...(p.etaSeconds !== undefined && Number.isFinite(p.etaSeconds) ? { jobEtaSeconds: p.etaSeconds } : {}),
  }
}

/** Runs jobs and reports their lifecycle as contract events. */
export class JobManager {
  private readonly jobs = new Map<string, JobEntry>()
  private readonly listeners = new Set<(e: EngineEvent) => void>()

  constructor(private readonly progressIntervalMs = 200) {}

  /** Listens to job events; returns an unsubscribe function. */
  subscribe(listener: (e: EngineEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Emits an event to every subscriber (a throwing listener does not stop the others). */
  emit(e: EngineEvent): void {
    for (const l of this.listeners) {
      try {
        l(e)
      } catch {
        // A broken subscriber (closed socket, dead window) must not break the job.
      }
    }
  }

  /**
   * Starts `body` as a job, or joins the running job with the same `key`. Returns at once; the
   * result arrives as `job:completed` (or `job:failed` / `job:cancelled`).
   */
  start<T>(kind: JobKind, key: string, label: string, body: (ctx: JobContext) => Promise<T>, opts: { scope?: string } = {}): JobRef {
    const fullKey = `${kind}:${key}`
    for (const j of this.jobs.values()) {
      if (j.key === fullKey && j.info.status === 'running') return { jobId: j.info.id, kind, joined: true }
    }
    const controller = new AbortController()
    const info: JobInfo = {
      id: randomUUID(),
      kind,
      label,
      status: 'running',
      progress: null,
      startedAt: new Date().toISOString(),
      finishedAt: null,
      error: null,
    }
    const startMs = Date.now()
    const progress = throttled((p) => {
      if (info.status !== 'running') return
      const whole = overallOf(p, (Date.now() - startMs) / 1000)
      info.progress = {
        phase: p.phase,
        done: p.done,
        total: p.total,
        ...(p.rate !== undefined && Number.isFinite(p.rate) ? { rate: p.rate } : {}),
        ...(p.etaSeconds !== undefined && Number.isFinite(p.etaSeconds) ? { etaSeconds: p.etaSeconds } : {}),
        ...(p.message ? { message: p.message } : {}),
        ...whole,
      }
      this.emit({ type: 'job:progress', job: { ...info } })
    }, this.progressIntervalMs)
    const entry: JobEntry = { info, key: fullKey, scope: opts.scope, controller, done: Promise.resolve() }
    this.jobs.set(info.id, entry)
    this.emit({ type: 'job:started', job: { ...info } })
    // Start on the next tick so the caller receives the JobRef (and can subscribe) before any event
    // of the body.
    entry.done = new Promise<void>((r) => setImmediate(r))
      .then(() => body({ progress, signal: controller.signal }))
      .then(
        (result) => {
          info.status = 'completed'
          info.finishedAt = new Date().toISOString()
          this.emit({ type: 'job:completed', job: { ...info }, result })
          return result
        },
        (err: unknown) => {
          info.finishedAt = new Date().toISOString()
          if (controller.signal.aborted || err instanceof CancelledError) {
            info.status = 'cancelled'
            info.error = 'cancelled'
            this.emit({ type: 'job:cancelled', job: { ...info } })
          } else {
            info.status = 'failed'
            info.error = err instanceof Error ? err.message : String(err)
            this.emit({ type: 'job:failed', job: { ...info } })
          }
          return undefined
        },
      )
      .finally(() => this.prune())
    return { jobId: info.id, kind, joined: false }
  }

  /** Jobs, running first, then the most recent finished. */
  list(): JobInfo[] {
    const all = [...this.jobs.values()].map((j) => ({ ...j.info }))
    return all.sort((a, b) => Number(b.status === 'running') - Number(a.status === 'running') || b.startedAt.localeCompare(a.startedAt))
  }

  /** A job's current state, or undefined. */
  get(id: string): JobInfo | undefined {
    const j = this.jobs.get(id)
    return j ? { ...j.info } : undefined
  }

  /** Resolves when the job has finished (any outcome) with its result (undefined unless completed). */
  wait(id: string): Promise<unknown> {
    return this.jobs.get(id)?.done ?? Promise.resolve(undefined)
  }

  /** Requests cancellation; false when the job is not running. */
  cancel(id: string): boolean {
    const j = this.jobs.get(id)
    if (!j || j.info.status !== 'running') return false
    j.controller.abort()
    return true
  }

  /** Cancels every running job (or only those of `scope`) and waits for them to stop. */
  async cancelAll(scope?: string): Promise<void> {
    const running = [...this.jobs.values()].filter((j) => j.info.status === 'running' && (scope === undefined || j.scope === scope))
    for (const j of running) j.controller.abort()
    await Promise.all(running.map((j) => j.done))
  }

  /** True while any job runs. */
  busy(): boolean {
    return [...this.jobs.values()].some((j) => j.info.status === 'running')
  }

  private prune(): void {
    const finished = [...this.jobs.values()]
      .filter((j) => j.info.status !== 'running')
      .sort((a, b) => (a.info.finishedAt ?? '').localeCompare(b.info.finishedAt ?? ''))
    for (const j of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.jobs.delete(j.info.id)
  }
}
