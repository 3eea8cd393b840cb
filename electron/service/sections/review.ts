/**
 * Service section: the review grid, sample detail, decisions (accept, keep, relabel, exclude,
 * undo) and review progress.
 */
import { BadInputError, ConflictError, NotFoundError } from '../../engine/errors.ts'
import { listClasses } from '../../engine/store/db.ts'
import * as q from '../../engine/store/read-model.ts'
import type { OutputOf } from '../../../shared/contract.ts'
import { nearestNeighbours } from '../embedding.ts'
import type { Handlers, ServiceContext } from '../context.ts'

export function reviewSection(ctx: ServiceContext) {
  const { need, jobs, features, pickBackbone } = ctx
  return {
    // --- review ---
    async querySamples(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      return { ...q.querySamples(db, input, runId), offset: input.offset, runId }
    },
    async getSample(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      const s = q.sampleWithTop(db, input.sampleId, runId)
      if (!s) throw new NotFoundError(`no sample with id ${input.sampleId} in this project`)
      let neighbours: OutputOf<'getSample'>['neighbours'] = []
      if (input.neighbours > 0) {
        let backboneId: number | null = q.runBackboneId(db, runId)
        if (backboneId === null) {
          try {
            backboneId = pickBackbone(db, undefined)
          } catch {
            backboneId = null
          }
        }
        if (backboneId !== null) {
          const nn = nearestNeighbours(features.get(db, backboneId), input.sampleId, input.neighbours)
          const rows = q.rowsByIds(
            db,
            nn.map((n) => n.id),
            runId,
          )
          neighbours = nn.flatMap((n) => {
            const r = rows.get(n.id)
            return r ? [{ id: n.id, similarity: n.similarity, given: r.given, refined: r.refined, final: r.final, hasImage: r.hasImage }] : []
          })
        }
      }
      return { ...s.row, width: s.width, height: s.height, top: s.top, neighbours, history: q.reviewHistory(db, input.sampleId) }
    },
    async review(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      if (!q.sampleWithTop(db, input.sampleId, runId)) throw new NotFoundError(`no sample with id ${input.sampleId} in this project`)
      if (input.action === 'accept' && runId === null) throw new ConflictError('nothing to accept: no finished refinement run')
      if (input.action === 'relabel') {
        const k = listClasses(db).length
        if (input.classIdx === undefined || input.classIdx >= k)
          throw new BadInputError(`class index ${input.classIdx} does not exist (the project has ${k} classes, 0..${k - 1})`)
      }
      const { recordDecision } = await import('../../engine/review/review.ts')
      const ev = recordDecision(db, {
        sampleId: input.sampleId,
        action: input.action,
        ...(input.classIdx !== undefined ? { classIdx: input.classIdx } : {}),
        ...(runId !== null ? { runId } : {}),
        reviewer: input.reviewer,
      })
      jobs.emit({ type: 'review:changed', sampleIds: [input.sampleId], reviewer: input.reviewer })
      return { event: ev, sample: q.sampleWithTop(db, input.sampleId, runId)!.row }
    },
    async bulkAccept(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      if (runId === null) throw new ConflictError('no finished run to accept suggestions from: run a refinement first')
      const rows = q.rowsByIds(db, input.sampleIds, runId)
      const ids = [...new Set(input.sampleIds)].filter((id) => rows.get(id)?.refined !== null && rows.has(id))
      const { recordDecisions } = await import('../../engine/review/review.ts')
      recordDecisions(
        db,
        ids.map((sampleId) => ({ sampleId, action: 'accept' as const, runId, reviewer: input.reviewer })),
      )
      if (ids.length) jobs.emit({ type: 'review:changed', sampleIds: ids, reviewer: input.reviewer })
      return { accepted: ids.length, skipped: input.sampleIds.length - ids.length }
    },
    async undo(input) {
      const { db } = need()
      const { undoLast } = await import('../../engine/review/review.ts')
      const ev = undoLast(db, { reviewer: input.reviewer })
      if (!ev) return { undone: null, sample: null }
      jobs.emit({ type: 'review:changed', sampleIds: [ev.sampleId], reviewer: input.reviewer })
      return { undone: ev, sample: q.sampleWithTop(db, ev.sampleId, q.latestRunId(db))?.row ?? null }
    },
    async reviewProgress(input) {
      const { db } = need()
      return q.reviewProgress(db, q.resolveRunId(db, input.runId))
    },
  } satisfies Partial<Handlers>
}
