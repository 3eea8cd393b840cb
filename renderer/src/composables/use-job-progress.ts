/**
 * Runs one job at a time for a screen and exposes its live progress. Leaving the screen does not
 * cancel the job (work goes on in the engine, and the top bar still shows it); it only drops
 * this screen's interest. Cancel is explicit.
 */
import { ref, computed, onBeforeUnmount } from 'vue'
import { useJobsStore, JobCancelled } from '../stores/jobs.ts'
import type { JobInfo, JobRef } from '../../../shared/contract.ts'

export interface JobHandle<T> {
  /** The job's current state, or undefined before the first start. */
  job: { readonly value: JobInfo | undefined }
  running: { readonly value: boolean }
  error: { value: string | null }
  /** Starts the job (the call returns a JobRef) and resolves with its result; null if cancelled. */
  run(start: () => Promise<JobRef>): Promise<T | null>
  cancel(): Promise<void>
}

/** A handle on one screen's job: start, watch, cancel. */
export function useJobProgress<T = unknown>(): JobHandle<T> {
  const store = useJobsStore()
  const jobId = ref<string | null>(null)
  const error = ref<string | null>(null)
  const starting = ref(false)
  let alive = true
  onBeforeUnmount(() => {
    alive = false
  })

  const job = computed(() => (jobId.value ? store.jobs[jobId.value] : undefined))
  const running = computed(() => starting.value || job.value?.status === 'running')

  async function run(start: () => Promise<JobRef>): Promise<T | null> {
    error.value = null
    starting.value = true
    try {
      const r = await start()
      jobId.value = r.jobId
      starting.value = false
      return await store.waitFor<T>(r)
    } catch (e) {
      if (e instanceof JobCancelled) return null
      if (alive) error.value = (e as Error).message
      throw e
    } finally {
      starting.value = false
    }
  }

  async function cancel(): Promise<void> {
    if (jobId.value) await store.cancel(jobId.value)
  }

  return { job, running, error, run, cancel }
}
