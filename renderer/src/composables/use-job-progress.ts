/**
 * Runs one job at a time for a screen and exposes its live progress. Leaving the screen does not
 * cancel the job (work goes on in the engine, and the top bar still shows it); coming back, or
 * opening the screen in a second window, attaches to the running job of the same kind again.
 * Cancel is explicit. Watchers end with the component.
 */
import { ref, computed, watch, onBeforeUnmount, getCurrentInstance } from 'vue'
import { useJobsStore, JobCancelled } from '../stores/jobs.ts'
import type { JobInfo, JobKind, JobRef } from '../../../shared/contract.ts'

export interface JobHandle<T> {
  /** The job's current state, or undefined before the first start. */
  job: { readonly value: JobInfo | undefined }
  running: { readonly value: boolean }
  error: { value: string | null }
  /** Starts the job (the call returns a JobRef) and resolves with its result; null if cancelled. */
  run(start: () => Promise<JobRef>): Promise<T | null>
  cancel(): Promise<void>
}

export interface JobProgressOptions<T> {
  /** Attach to a running job of this kind (started before the screen opened, or elsewhere). */
  kind?: JobKind
  /** Called with the result of an attached job when it completes. */
  onResult?: (result: T) => void
}

/** A handle on one screen's job: start, watch, cancel. */
export function useJobProgress<T = unknown>(opts: JobProgressOptions<T> = {}): JobHandle<T> {
  const store = useJobsStore()
  const jobId = ref<string | null>(null)
  const error = ref<string | null>(null)
  const starting = ref(false)
  let alive = true
  if (getCurrentInstance()) {
    onBeforeUnmount(() => {
      alive = false
    })
  }

  const job = computed(() => (jobId.value ? store.jobs[jobId.value] : undefined))
  const running = computed(() => starting.value || job.value?.status === 'running')

  if (opts.kind) {
    const stop = watch(
      () => store.running.find((j) => j.kind === opts.kind),
      (j) => {
        if (!j || running.value || jobId.value === j.id) return
        jobId.value = j.id
        error.value = null
        store.waitFor<T>(j.id).then(
          (r) => {
            if (alive) opts.onResult?.(r)
          },
          (e: Error) => {
            if (alive && !(e instanceof JobCancelled)) error.value = e.message
          },
        )
      },
      { immediate: true },
    )
    if (getCurrentInstance()) onBeforeUnmount(stop)
  }

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
