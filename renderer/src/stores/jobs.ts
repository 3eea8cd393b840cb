/**
 * Jobs of this session, kept current from the engine's events (job:started / progress /
 * completed / failed / cancelled). Anything can await a job's result with `waitFor`; if an event
 * was missed (the event stream reconnected) a slow poll of listJobs settles the wait anyway.
 */
import { defineStore } from 'pinia'
import { ref, computed } from 'vue'
import { api } from '../api.ts'
import type { EngineEvent, JobInfo, JobRef } from '../../../shared/contract.ts'

interface Waiter {
  resolve: (result: unknown) => void
  reject: (e: Error) => void
}

/** Thrown by waitFor when the job was cancelled, so callers can tell it from a failure. */
export class JobCancelled extends Error {
  constructor(label: string) {
    super(`${label}: cancelled`)
    this.name = 'JobCancelled'
  }
}

export const useJobsStore = defineStore('jobs', () => {
  const jobs = ref<Record<string, JobInfo>>({})
  const results = new Map<string, unknown>()
  const waiters = new Map<string, Waiter[]>()
  const listeners = new Set<(e: EngineEvent) => void>()
  let started = false
  let poll: ReturnType<typeof setInterval> | null = null

  const running = computed(() => Object.values(jobs.value).filter((j) => j.status === 'running'))

  function settle(job: JobInfo): void {
    const ws = waiters.get(job.id)
    if (!ws || job.status === 'running') return
    waiters.delete(job.id)
    for (const w of ws) {
      if (job.status === 'completed') w.resolve(results.get(job.id))
      else if (job.status === 'cancelled') w.reject(new JobCancelled(job.label))
      else w.reject(new Error(job.error ?? `${job.label}: failed`))
    }
    if (waiters.size === 0 && poll) {
      clearInterval(poll)
      poll = null
    }
  }

  function onEvent(e: EngineEvent): void {
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

  /** Resolves with the job's result when it completes; rejects when it fails or is cancelled. */
  function waitFor<T = unknown>(ref: JobRef | string): Promise<T> {
    const id = typeof ref === 'string' ? ref : ref.jobId
    return new Promise<T>((resolve, reject) => {
      const list = waiters.get(id) ?? []
      list.push({ resolve: resolve as (r: unknown) => void, reject })
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
  function on(listener: (e: EngineEvent) => void): () => void {
    listeners.add(listener)
    return () => listeners.delete(listener)
  }

  return { jobs, running, start, refresh, waitFor, cancel, on }
})
