/**
 * The engine service: implements every method of the shared contract on the engine, for one open
 * project at a time. Both transports use it: the web server (in-process) and the Electron app
 * (inside a utilityProcess, see utility-entry.ts). It is contract plumbing: `call()` validates
 * every input and output against the contract schemas and maps the engine's typed errors to
 * contract error codes; the handlers live in sections (sections/*.ts), one per screen of the app,
 * and relay to the engine's use cases and repositories.
 *
 * The handler table is typed by the contract (`Handlers`, a mapped type over its keys), so a
 * method added to the contract fails type-checking here until a section implements it.
 */
import { ContractError, contract, isMethodName, type EngineEvent } from '../../shared/contract.ts'
import { BadInputError, ConflictError, NotFoundError } from '../engine/errors.ts'
import { CancelledError } from '../engine/jobs/progress.ts'
import { ExistsError, RefusedError } from '../engine/util/atomic.ts'
import { createServiceContext, NoProjectError, OutsideRootsError, type Handlers, type ServiceOptions } from './context.ts'
import { imageForSample, sampleImageFile, type ImageFile } from './images.ts'
import type { JobManager } from './job-manager.ts'
import { auditSection } from './sections/audit.ts'
import { exportSection } from './sections/export.ts'
import { insightsSection } from './sections/insights.ts'
import { jobsSection } from './sections/jobs.ts'
import { pipelineSection } from './sections/pipeline.ts'
import { projectsSection } from './sections/projects.ts'
import { reviewSection } from './sections/review.ts'
import { validationSection } from './sections/validation.ts'

export type { Handlers, ServiceOptions } from './context.ts'

/** What createService returns. */
export interface Service {
  /** Validates `input` with the contract, runs the method, validates the output. Rejects with ContractError. */
  call(method: string, input: unknown): Promise<unknown>
  /** The typed handlers (already-validated input). */
  readonly handlers: Handlers
  /** Listens to engine events; returns an unsubscribe function. */
  subscribe(listener: (e: EngineEvent) => void): () => void
  /** The absolute image file of a sample registered in the open project, or undefined. */
  imagePath(sampleId: number): string | undefined
  /** The file to serve for a sample image (original or cached JPEG), or undefined. */
  image(sampleId: number, size: 'thumb' | 'full'): Promise<ImageFile | undefined>
  /** The job manager (tests, supervision). */
  readonly jobs: JobManager
  /** Cancels running jobs and closes the project. */
  close(): Promise<void>
}

function formatIssues(issues: { path: PropertyKey[]; message: string }[]): string {
  return issues.map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`).join('; ')
}

/**
 * Converts any thrown value to a ContractError, by the error's class: the engine's typed errors,
 * cancellation, a path outside a confined service's folders (forbidden), a missing file (ENOENT),
 * an existing or refused export target; anything else is the request's fault as far as the
 * contract can tell (bad_request), with the engine's message.
 */
export function asContractError(e: unknown): ContractError {
  if (e instanceof ContractError) return e
  if (e instanceof NoProjectError) return new ContractError('no_project', e.message)
  if (e instanceof OutsideRootsError) return new ContractError('forbidden', e.message)
  if (e instanceof CancelledError) return new ContractError('cancelled', e.message)
  if (e instanceof NotFoundError) return new ContractError('not_found', e.message)
  if (e instanceof ConflictError || e instanceof ExistsError || e instanceof RefusedError) return new ContractError('conflict', (e as Error).message)
  if (e instanceof BadInputError) return new ContractError('bad_request', e.message)
  if (e instanceof Error && (e as NodeJS.ErrnoException).code === 'ENOENT') return new ContractError('not_found', e.message)
  return new ContractError('bad_request', e instanceof Error ? e.message : String(e))
}

/**
 * Creates the engine service over a data folder. One project is open at a time; opening another
 * closes the first (after cancelling its jobs).
 */
export function createService(opts: ServiceOptions): Service {
  const ctx = createServiceContext(opts)
  const { jobs, thumbDir } = ctx
  const handlers: Handlers = {
    ...projectsSection(ctx),
    ...pipelineSection(ctx),
    ...reviewSection(ctx),
    ...insightsSection(ctx),
    ...validationSection(ctx),
    ...exportSection(ctx),
    ...auditSection(ctx),
    ...jobsSection(ctx),
  }

  return {
    handlers,
    jobs,
    async call(method, input) {
      if (!isMethodName(method)) throw new ContractError('not_found', `unknown method '${method}'`)
      const def = contract[method]
      const parsed = def.input.safeParse(input ?? {})
      if (!parsed.success) throw new ContractError('bad_request', `${method}: ${formatIssues(parsed.error.issues)}`)
      let out: unknown
      try {
        out = await (handlers[method] as (i: unknown) => Promise<unknown>)(parsed.data)
      } catch (e) {
        throw asContractError(e)
      }
      const checked = def.output.safeParse(out)
      if (!checked.success)
        throw new ContractError('internal', `${method}: the service's response does not match the contract: ${formatIssues(checked.error.issues)}`)
      return checked.data
    },
    subscribe: (l) => jobs.subscribe(l),
    imagePath(sampleId) {
      const p = ctx.current()
      return p ? sampleImageFile(p.db, sampleId)?.file : undefined
    },
    async image(sampleId, size) {
      const p = ctx.current()
      return p ? imageForSample(p.db, sampleId, size, thumbDir, ctx.confinement) : undefined
    },
    async close() {
      await ctx.closeCurrent()
    },
  }
}
