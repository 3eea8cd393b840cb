/**
 * Service section: export preview and export of the final labels.
 */
import { existsSync } from 'node:fs'
import { ConflictError } from '../../engine/errors.ts'
import { listClasses } from '../../engine/store/db.ts'
import * as q from '../../engine/store/read-model.ts'
import type { Handlers, ServiceContext } from '../context.ts'

export function exportSection(ctx: ServiceContext) {
  const { need, requireAbsolute, startProjectJob, version } = ctx
  return {
    // --- export ---
    async exportPreview(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      const { prepareExport } = await import('../../engine/export/export.ts')
      const p = prepareExport(db, {
        ...(runId !== null ? { runId } : {}),
        onlyReviewed: input.onlyReviewed,
        ...(input.autoAccept !== undefined ? { autoAccept: input.autoAccept } : {}),
      })
      const classes = listClasses(db)
      const counts = new Map<number, number>()
      for (const r of p.rows) if (r.final !== null) counts.set(r.final, (counts.get(r.final) ?? 0) + 1)
      const total = q.projectCounts(db).samples
      // Counted from the rows the file gets, by the file's own columns: review_status (auto-accepted
      // rows are 'auto-accepted' there) and final vs given (the export's `changed`).
      const autoAccepted = p.rows.filter((r) => r.finalSource === 'refined').length
      return {
        total,
        included: p.rows.length,
        excluded: p.excluded,
        unreviewed: p.rows.filter((r) => r.status === 'unreviewed').length - autoAccepted,
        changed: p.rows.filter((r) => r.final !== null && r.final !== r.given).length,
        autoAccepted,
        byClass: classes.map((c) => ({ idx: c.idx, name: c.name, count: counts.get(c.idx) ?? 0 })),
      }
    },
    async exportLabels(input) {
      const p = need()
      const out = requireAbsolute(input.out, 'export destination')
      const runId = q.resolveRunId(p.db, input.runId)
      if (existsSync(out) && !input.force) throw new ConflictError(`${out} already exists; choose another destination or overwrite it (force)`)
      return startProjectJob(p, 'export', input, `Export ${input.format} to ${out}`, async ({ progress, signal }) => {
        const { exportLabels } = await import('../../engine/export/export.ts')
        const r = await exportLabels(p.db, {
          format: input.format,
          out,
          ...(runId !== null ? { runId } : {}),
          ...(input.onlyReviewed !== undefined ? { onlyReviewed: input.onlyReviewed } : {}),
          ...(input.autoAccept !== undefined ? { autoAccept: input.autoAccept } : {}),
          ...(input.force !== undefined ? { force: input.force } : {}),
          ...(input.link !== undefined ? { link: input.link ? ('hardlink' as const) : ('copy' as const) } : {}),
          appVersion: version,
          progress,
          signal,
        })
        return {
          out: r.out,
          written: r.written,
          format: r.format,
          excluded: r.excluded,
          changed: r.changed,
          skipped: r.skipped,
          unreadable: r.unreadable,
        }
      })
    },
  } satisfies Partial<Handlers>
}
