/**
 * Service section: PoC validation sweeps (start, resume, list, results, reports).
 */
import { NotFoundError, ConflictError } from '../../engine/errors.ts'
import * as q from '../../engine/store/read-model.ts'
import type { ValidationResult } from '../../engine/validate/validate.ts'
import type { Handlers, ServiceContext } from '../context.ts'

/** The finite entries of a metrics record (a NaN stored as JSON comes back as null). */
function finite(metrics: Partial<Record<string, number | null>> | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics ?? {}).filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1])))
}

export function validationSection(ctx: ServiceContext) {
  const { need, pickBackbone, startProjectJob } = ctx
  return {
    // --- validation ---
    async startValidation(input) {
      const p = need()
      const backboneId = pickBackbone(p.db, input.backboneId)
      return startProjectJob(p, 'validate', { ...input, backboneId }, 'Validation sweep', async ({ progress, signal }) => {
        const { validateProject } = await import('../../engine/validate/validate.ts')
        const refineOptions = {
          ...(input.lambda !== undefined ? { lambda: input.lambda } : {}),
          ...(input.pllLoss !== undefined ? { pllLoss: input.pllLoss } : {}),
        }
        const { validationId } = await validateProject(
          p.db,
          {
            noiseTypes: input.noiseTypes,
            rates: input.rates,
            seeds: input.seeds,
            methods: input.methods,
            backboneId,
            ...(input.sdRounds !== undefined ? { sdRounds: input.sdRounds } : {}),
            ...(input.review !== undefined ? { review: input.review } : {}),
            refineOptions,
          },
          { progress, signal },
        )
        return { validationId }
      })
    },
    async resumeValidation(input) {
      const p = need()
      const v = q.getValidation(p.db, input.validationId)
      if (!v) throw new NotFoundError(`no validation with id ${input.validationId} in this project`)
      // Still 'running' (not 'interrupted') with no sweep at work here: a live process elsewhere runs it.
      const sweepHere = ctx.jobs.list().some((j) => j.kind === 'validate' && j.status === 'running')
      if (v.status === 'running' && !sweepHere)
        throw new ConflictError(`validation ${input.validationId} is still running in another process; resume it once that one has ended`)
      return startProjectJob(
        p,
        'validate',
        { resume: input.validationId },
        `Resume validation ${input.validationId}`,
        async ({ progress, signal }) => {
          const { validateProject } = await import('../../engine/validate/validate.ts')
          // The stored config is used; the one passed here is ignored by validateProject when resuming.
          const { validationId } = await validateProject(
            p.db,
            { noiseTypes: [], rates: [], seeds: [], methods: [] },
            { validationId: input.validationId, progress, signal },
          )
          return { validationId }
        },
      )
    },
    async listValidations() {
      return { validations: q.listValidations(need().db) }
    },
    async getValidation(input) {
      const r = q.getValidation(need().db, input.validationId)
      if (!r) throw new NotFoundError(`no validation with id ${input.validationId} in this project`)
      // What the engine stored (validate.ts): the whole result, the cells so far while running or
      // after a stop, `{ error }` beside them after a failure, or nothing yet.
      const stored = (r.results ?? {}) as Partial<ValidationResult> & { error?: unknown }
      return {
        id: r.id,
        status: r.status,
        params: r.params,
        startedAt: r.startedAt,
        finishedAt: r.finishedAt,
        complete: stored.complete === true,
        error: typeof stored.error === 'string' ? stored.error : null,
        cells: (stored.cells ?? []).map((c) => ({
          method: c.method,
          noiseType: c.noiseType,
          rate: c.rate,
          seed: c.seed,
          metrics: finite(c.metrics),
          identifiable: c.identifiable ?? null,
          chosen: c.chosen ?? {},
          error: c.error ?? null,
        })),
        summary: (stored.summary ?? []).map((s) => ({ ...s, mean: finite(s.mean), std: finite(s.std) })),
        best: stored.best ?? [],
        noiseModels: (stored.noiseModels ?? []).map((m) => ({ noiseType: m.noiseType, rate: m.rate, identifiable: m.identifiable })),
        ...(stored.reviewSummary ? { review: stored.reviewSummary } : {}),
        truthKnown: stored.meta?.truthKnown === true,
      }
    },
    async validationReport(input) {
      const r = q.getValidation(need().db, input.validationId)
      if (!r) throw new NotFoundError(`no validation with id ${input.validationId} in this project`)
      if (!r.results) throw new ConflictError(`validation ${input.validationId} has no results yet`)
      const report = await import('../../engine/validate/report.ts')
      const result = r.results as Parameters<typeof report.toHtml>[0]
      const base = `validation-${input.validationId}`
      if (input.format === 'csv') return { filename: `${base}.csv`, mime: 'text/csv', content: report.toCsv(result) }
      if (input.format === 'json') return { filename: `${base}.json`, mime: 'application/json', content: report.toJson(result) }
      return { filename: `${base}.html`, mime: 'text/html', content: report.toHtml(result) }
    },
  } satisfies Partial<Handlers>
}
