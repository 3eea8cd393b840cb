/**
 * Service section: insights (confusion matrix, 2-D embedding map, noise estimate).
 *
 * The map: `computeMap` is a job (UMAP takes seconds to a minute; progress, cancel) that stores the
 * map beside the project (engine/insights/map-cache.ts); `embeddingMap` only reads what is stored,
 * so opening Insights never blocks on it, and says 'not-computed' or 'no-features' instead of
 * failing.
 */
import type { MapInfo, OutputOf } from '../../../shared/contract.ts'
import { ConflictError } from '../../engine/errors.ts'
import { cachedEmbeddingMap, mapCacheKey, readCachedMap, type CachedMap } from '../../engine/insights/map-cache.ts'
import { wilson } from '../../engine/review/audit.ts'
import type { Db } from '../../engine/store/db.ts'
import * as q from '../../engine/store/read-model.ts'
import type { Handlers, ServiceContext } from '../context.ts'

function mapInfo(backboneId: number, m: CachedMap, cached: boolean): MapInfo {
  return {
    backboneId,
    total: m.total,
    fitted: m.fitted,
    placed: m.placed,
    leftOut: m.leftOut,
    seed: m.params.seed,
    computedAt: m.computedAt,
    seconds: m.seconds,
    cached,
  }
}

export function insightsSection(ctx: ServiceContext) {
  const { need, features, pickBackbone } = ctx

  /** The backbone to map: the requested one, else the run's, else the one with the most features; null when none has features. */
  function mapBackbone(db: Db, backboneId: number | undefined, runId: number | null): number | null {
    if (backboneId !== undefined) return pickBackbone(db, backboneId)
    const ofRun = q.runBackboneId(db, runId)
    if (ofRun !== null && q.featureCount(db, ofRun) > 0) return ofRun
    return q.backboneWithMostFeatures(db) ?? null
  }

  return {
    // --- insights ---
    async confusion(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      return { runId, ...q.confusion(db, runId) }
    },
    async embeddingMap(input) {
      const p = need()
      const { db } = p
      const runId = q.resolveRunId(db, input.runId)
      const backboneId = mapBackbone(db, input.backboneId, runId)
      const empty: OutputOf<'embeddingMap'> = {
        backboneId,
        method: input.method,
        status: 'no-features',
        runId,
        explainedVariance: [],
        info: null,
        points: [],
      }
      if (backboneId === null) return empty
      let ids: readonly number[]
      let xy: ArrayLike<number>
      let explainedVariance: number[] = []
      let info: MapInfo | null = null
      if (input.method === 'pca') {
        const pca = features.pca(db, backboneId, input.maxPoints)
        ;({ ids, xy } = pca)
        explainedVariance = pca.explained
      } else {
        const key = mapCacheKey(backboneId, q.featureCount(db, backboneId), { maxPoints: input.maxPoints })
        const stored = readCachedMap(p.path, key)
        if (!stored) return { ...empty, status: 'not-computed' }
        ;({ ids, xy } = stored)
        info = mapInfo(backboneId, stored, true)
      }
      const rows = q.rowsByIds(db, [...ids], runId)
      const points = ids.map((id, i) => {
        const r = rows.get(id)
        return { id, x: xy[i * 2]!, y: xy[i * 2 + 1]!, given: r?.given ?? null, refined: r?.refined ?? null, flagged: r?.flagged === true }
      })
      return { ...empty, status: 'ready', explainedVariance, info, points }
    },
    async computeMap(input) {
      const p = need()
      const runId = q.resolveRunId(p.db, input.runId)
      const backboneId = mapBackbone(p.db, input.backboneId, runId)
      if (backboneId === null) throw new ConflictError('no features in this project yet: extract features (or import embeddings) first')
      const key = mapCacheKey(backboneId, q.featureCount(p.db, backboneId), { maxPoints: input.maxPoints })
      const name = ctx.backboneInfo(p.db, backboneId).name
      return ctx.startProjectJob(
        p,
        'map',
        { backboneId, maxPoints: input.maxPoints },
        `Map of the ${name} features`,
        async ({ progress, signal }) => {
          const { map, cached } = await cachedEmbeddingMap({ projectPath: p.path, key, load: () => features.get(p.db, backboneId), progress, signal })
          return mapInfo(backboneId, map, cached)
        },
      )
    },
    async noiseEstimate(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      const { trustedWrong, ...est } = q.noiseEstimate(db, runId)
      const trustedInterval = est.trustedCount > 0 ? wilson(trustedWrong, est.trustedCount) : null
      return { runId, ...est, trustedInterval }
    },
  } satisfies Partial<Handlers>
}
