/**
 * Jobs of this session, kept current from the engine's events (job:started / progress /
 * completed / failed / cancelled). Anything can await a job's result with `waitFor`, typed by the
 * job's kind (the client has checked it against `jobResults`); if an event was missed (the event
 * stream reconnected) a slow poll of listJobs settles the wait anyway.
 */
import { defineStore } from 'pinia'
import { ref, computed } from 'vue'
import { api } from '../api.ts'
import type { ClientEvent, JobCompleted, JobInfo, JobKind, JobResultOf } from '../../../shared/contract.ts'

interface Waiter {
  /** The kind the caller expects (from its JobRef); the result's type follows from it. */
  kind: JobKind
  resolve: (result: JobCompleted['result']) => void
  reject: (e: Error) => void
}

/** How long a listing that says "completed" may run ahead of the job:completed event carrying the result. */
const RESULT_GRACE_MS = 5000

/** Thrown by waitFor when the job was cancelled, so callers can tell it from a failure. */
export class JobCancelled extends Error {
  constructor(label: string) {
    super(`${label}: cancelled`)
    this.name = 'JobCancelled'
  }
}

export const useJobsStore = defineStore('jobs', () => {
  const jobs = ref<Record<string, JobInfo>>({})
  const results = new Map<string, JobCompleted['result']>()
  /** Jobs a listing reported completed before their result arrived, with when it was first seen. */
  const resultPending = new Map<string, number>()
  const waiters = new Map<string, Waiter[]>()
  const listeners = new Set<(e: ClientEvent) => void>()
  let started = false
  let poll: ReturnType<typeof setInterval> | null = null

  const running = computed(() => Object.values(jobs.value).filter((j) => j.status === 'running'))

  function settle(job: JobInfo): void {
    const ws = waiters.get(job.id)
    if (!ws || job.status === 'running') return
    const result = results.get(job.id)
    if (job.status === 'completed' && result === undefined) {
      // A listing can run ahead of the event stream: wait a poll or two for the event.
      const since = resultPending.get(job.id) ?? Date.now()
      resultPending.set(job.id, since)
      if (Date.now() - since < RESULT_GRACE_MS) return
    }
    waiters.delete(job.id)
    resultPending.delete(job.id)
    for (const w of ws) {
      if (job.status === 'completed') {
        if (job.kind !== w.kind) w.reject(new Error(`${job.label}: a ${job.kind} job, awaited as ${w.kind}`))
        else if (result !== undefined) w.resolve(result)
        else w.reject(new Error(`${job.label}: finished, but its result did not arrive (the connection to the engine was interrupted)`))
      } else if (job.status === 'cancelled') w.reject(new JobCancelled(job.label))
      else w.reject(new Error(job.error ?? `${job.label}: failed`))
    }
    if (waiters.size === 0 && poll) {
      clearInterval(poll)
      poll = null
    }
  }

  function onEvent(e: ClientEvent): void {
    if ('job' in e) {
      if (e.type === 'job:completed') results.set(e.job.id, e.result)
      jobs.value[e.job.id] = e.job
      settle(e.job)
    }
    for (const l of listeners) l(e)
  }

  /** Subscribes to the engine's events once for the whole app. */
  function start(): void {
    if (started) return
    started = true
    api.onEvent(onEvent)
    void refresh()
  }

  async function refresh(): Promise<void> {
    try {
      const { jobs: list } = await api.listJobs({})
      for (const j of list) {
        const known = jobs.value[j.id]
        // Events are fresher than a listing that raced them.
        if (!known || known.status === 'running') jobs.value[j.id] = j
        settle(jobs.value[j.id]!)
      }
    } catch {
      // a transient error; the next poll or event fixes the picture
    }
  }

  /**
   * Resolves with the job's result when it completes, typed by its kind (a JobRef from the client
   * names the kind); rejects when it fails or is cancelled.
   */
  function waitFor<K extends JobKind>(ref: { jobId: string; kind: K }): Promise<JobResultOf<K>> {
    const id = ref.jobId
    return new Promise<JobResultOf<K>>((resolve, reject) => {
      const list = waiters.get(id) ?? []
      // The client checked the result against jobResults[job.kind], and settle() resolves only
      // when job.kind is the kind awaited here.
      list.push({ kind: ref.kind, resolve: resolve as (r: JobCompleted['result']) => void, reject })
      waiters.set(id, list)
      const known = jobs.value[id]
      if (known) settle(known)
      if (!poll && waiters.size > 0) poll = setInterval(() => void refresh(), 2000)
    })
  }

  async function cancel(jobId: string): Promise<boolean> {
    const r = await api.cancelJob({ jobId })
    return r.cancelled
  }

  /** Listens to every engine event; returns the unsubscribe function. */
  function on(listener: (e: ClientEvent) => void): () => void {
    listeners.add(listener)
    return () => listeners.delete(listener)
  }

  return { jobs, running, start, refresh, waitFor, cancel, on }
})
