/**
 * Runs one job at a time for a screen and exposes its live progress. Leaving the screen does not
 * cancel the job (work goes on in the engine, and the top bar still shows it); coming back, or
 * opening the screen in a second window, attaches to the running job of the same kind again.
 * Cancel is explicit. Watchers end with the component.
 */
import { ref, computed, watch, onBeforeUnmount, getCurrentInstance } from 'vue'
import { useJobsStore, JobCancelled } from '../stores/jobs.ts'
import type { JobInfo, JobKind, JobRef, JobResultOf } from '../../../shared/contract.ts'

export interface JobHandle<T, K extends JobKind = JobKind> {
  /** The job's current state, or undefined before the first start. */
  job: { readonly value: JobInfo | undefined }
  running: { readonly value: boolean }
  error: { value: string | null }
  /** Starts the job (the call returns a JobRef of this kind) and resolves with its result; null if cancelled. */
  run(start: () => Promise<JobRef & { kind: K }>): Promise<T | null>
  cancel(): Promise<void>
}

export interface JobProgressOptions<K extends JobKind, T = JobResultOf<K>> {
  /** The kind of job this screen runs: its result type follows from it; a running job of this kind (started before the screen opened, or elsewhere) is attached. */
  kind: K
  /** Called with the result of an attached job when it completes. */
  onResult?: (result: T) => void
}

/** A handle on one screen's job: start, watch, cancel. The result is typed by `kind` (`jobResults` in the contract). */
export function useJobProgress<K extends JobKind>(opts: JobProgressOptions<K>): JobHandle<JobResultOf<K>, K>
/**
 * @deprecated The result type follows from `kind`: write `useJobProgress({ kind })` without a type
 * argument. Kept so that callers which still restate their result type compile.
 */
export function useJobProgress<T extends JobResultOf<JobKind>>(opts: JobProgressOptions<JobKind, T>): JobHandle<T>
export function useJobProgress<K extends JobKind>(opts: JobProgressOptions<K>): JobHandle<JobResultOf<K>, K> {
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

  // Attach to a running job of this kind (started before the screen opened, or elsewhere).
  const stop = watch(
    () => store.running.find((j) => j.kind === opts.kind),
    (j) => {
      if (!j || running.value || jobId.value === j.id) return
      jobId.value = j.id
      error.value = null
      store.waitFor({ jobId: j.id, kind: opts.kind }).then(
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

  async function run(start: () => Promise<JobRef & { kind: K }>): Promise<JobResultOf<K> | null> {
    error.value = null
    starting.value = true
    try {
      const r = await start()
      jobId.value = r.jobId
      starting.value = false
      return await store.waitFor(r)
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
