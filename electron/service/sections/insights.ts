/**
 * Service section: insights (confusion matrix, 2-D embedding map, noise estimate).
 */
import * as q from '../../engine/store/read-model.ts'
import type { Handlers, ServiceContext } from '../context.ts'

export function insightsSection(ctx: ServiceContext) {
  const { need, features, pickBackbone } = ctx
  return {
    // --- insights ---
    async confusion(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      return { runId, ...q.confusion(db, runId) }
    },
    async embeddingMap(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      let backboneId: number
      if (input.backboneId !== undefined) backboneId = pickBackbone(db, input.backboneId)
      else {
        backboneId = q.runBackboneId(db, runId) ?? pickBackbone(db, undefined)
      }
      const { ids, xy, explained } = features.pca(db, backboneId, input.maxPoints)
      const rows = q.rowsByIds(db, ids, runId)
      const points = ids.map((id, i) => ({
        id,
        x: xy[i * 2]!,
        y: xy[i * 2 + 1]!,
        given: rows.get(id)?.given ?? null,
        refined: rows.get(id)?.refined ?? null,
      }))
      return { backboneId, explainedVariance: explained, points }
    },
    async noiseEstimate(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      return { runId, ...q.noiseEstimate(db, runId) }
    },
  } satisfies Partial<Handlers>
}
