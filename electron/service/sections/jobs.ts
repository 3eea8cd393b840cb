/**
 * Service section: the jobs of the engine (list, cancel; restart is the Electron host's).
 */
import type { Handlers, ServiceContext } from '../context.ts'

export function jobsSection(ctx: ServiceContext) {
  const { jobs } = ctx
  return {
    // --- jobs ---
    async listJobs() {
      return { jobs: jobs.list() }
    },
    async restartEngine() {
      return { restarted: false }
    },
    async cancelJob(input) {
      return { cancelled: jobs.cancel(input.jobId) }
    },
  } satisfies Partial<Handlers>
}
