/**
 * Refinement of a whole project: loads the stored features, trains on the training-split samples
 * that have a given label (never on trusted labels), and records a `runs` row with its
 * `predictions` (training samples from the run itself, every other sample with features through
 * the trained model).
 */
import { CancelledError } from '../jobs/progress.ts'
import { defaultBackbone, loadFeatureMatrix } from '../extract/features.ts'
import { listClasses, now, type Db } from '../store/db.ts'
import { selectRows } from './engine.ts'
import { accuracy, topTwo } from './fit.ts'
import { refineArrays } from './refine.ts'
import type { RefineOptions, RefineResult } from './types.ts'

export type ProjectRefineOptions = RefineOptions & { backboneId?: number }

/** The options as stored in runs.params (no signal/progress). */
function paramsOf(opts: ProjectRefineOptions, backboneId: number): Record<string, unknown> {
  const { signal: _s, progress: _p, ...rest } = opts
  return { ...rest, backboneId }
}

/**
 * Runs one refinement method on the project's features and stores it as a run. Returns the run id
 * and the in-memory result. The run row is written first with status 'running' and ends as
 * 'done', 'failed' or 'cancelled'; predictions are written in one transaction.
 */
export async function refineProject(db: Db, opts: ProjectRefineOptions): Promise<{ runId: number; result: RefineResult }> {
  const backboneId = opts.backboneId ?? defaultBackbone(db)
  if (!db.prepare('SELECT 1 FROM backbones WHERE id = ?').get(backboneId))
    throw new Error(`refine: no backbone with id ${backboneId} in this project`)
  const k = listClasses(db).length
  if (k < 2) throw new Error(`refine: the project has ${k} class(es); at least 2 are needed`)
  const seed = opts.seed ?? 0
  const runId = Number(
    db
      .prepare('INSERT INTO runs (method, backbone_id, params, seed, status, started_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(opts.method, backboneId, JSON.stringify(paramsOf(opts, backboneId)), seed, 'running', now()).lastInsertRowid,
  )
  const fail = (status: 'failed' | 'cancelled', e: unknown) => {
    db.prepare('UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE id = ?').run(status, now(), (e as Error).message ?? String(e), runId)
  }
  try {
    const train = loadFeatureMatrix(db, backboneId, { split: 'train' })
    const labelled: number[] = []
    for (let i = 0; i < train.given.length; i++) if (train.given[i]! >= 0) labelled.push(i)
    if (labelled.length < 2) throw new Error(`refine: only ${labelled.length} training sample(s) with features and a given label`)
    const x = labelled.length === train.x.n ? train.x : selectRows(train.x, labelled)
    const y = Int32Array.from(labelled, (i) => train.given[i]!)
    const result = await refineArrays(x, y, k, opts)

    // Everything else with features: unlabelled training samples and the test split.
    const inRun = new Set(labelled)
    const otherTrain = [...Array(train.x.n).keys()].filter((i) => !inRun.has(i))
    const test = loadFeatureMatrix(db, backboneId, { split: 'test' })
    const other = {
      x: {
        data: new Float32Array((otherTrain.length + test.x.n) * x.d),
        n: otherTrain.length + test.x.n,
        d: x.d,
      },
      sampleIds: new Int32Array(otherTrain.length + test.x.n),
      given: new Int32Array(otherTrain.length + test.x.n),
      trusted: new Int32Array(otherTrain.length + test.x.n),
    }
    otherTrain.forEach((i, r) => {
      other.x.data.set(train.x.data.subarray(i * x.d, (i + 1) * x.d), r * x.d)
      other.sampleIds[r] = train.sampleIds[i]!
      other.given[r] = train.given[i]!
      other.trusted[r] = train.trusted[i]!
    })
    other.x.data.set(test.x.data, otherTrain.length * x.d)
    other.sampleIds.set(test.sampleIds, otherTrain.length)
    other.given.set(test.given, otherTrain.length)
    other.trusted.set(test.trusted, otherTrain.length)
    const otherProbs = other.x.n > 0 ? await result.predict(other.x) : new Float32Array(0)
    if (opts.signal?.aborted) throw new CancelledError('refine')

    // Metrics. Trusted labels are used here only to report, after every choice was made.
    const trustedTrain = Int32Array.from(labelled, (i) => train.trusted[i]!)
    const flaggedCount = result.flagged.reduce((a, b) => a + b, 0)
    const metrics: Record<string, unknown> = {
      trainSamples: result.n,
      flagged: flaggedCount,
      flaggedFraction: flaggedCount / result.n,
      givenAgreement: accuracy(result.probs, y, k),
      chosen: result.chosen,
      lambda: result.chosen.lambda,
      selection: result.details.selection,
      otherSamples: other.x.n,
      crossFit: result.chosen.crossFit === true,
      samplesPerDimension: x.n / x.d,
    }
    if (result.details.cl) metrics.noiseRateEstimate = (result.details.cl as { noiseRate: number }).noiseRate
    if (trustedTrain.some((t) => t >= 0)) {
      let ok = 0
      let cnt = 0
      for (let i = 0; i < trustedTrain.length; i++) {
        if (trustedTrain[i]! < 0) continue
        cnt++
        if (result.refined[i] === trustedTrain[i]) ok++
      }
      metrics.trustedRecovery = ok / cnt
      metrics.trustedRecoveryCount = cnt
    }
    if (other.trusted.some((t) => t >= 0)) metrics.otherTrustedAccuracy = accuracy(otherProbs, other.trusted, k)

    const ins = db.prepare(
      `INSERT INTO predictions (run_id, sample_id, refined_idx, prob, top1_idx, top1_prob, top2_idx, top2_prob, flagged, rank)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    const otherTop = topTwo(otherProbs, k)
    db.transaction(() => {
      for (let r = 0; r < result.n; r++) {
        const i = labelled[r]!
        ins.run(
          runId,
          train.sampleIds[i]!,
          result.refined[r]!,
          result.confidence[r]!,
          result.top1[r]!,
          result.top1Prob[r]!,
          result.top2[r]!,
          result.top2Prob[r]!,
          result.flagged[r]!,
          result.rank[r]! > 0 ? result.rank[r]! : null,
        )
      }
      for (let r = 0; r < other.x.n; r++) {
        const g = other.given[r]!
        const refined = otherTop.top1[r]!
        ins.run(
          runId,
          other.sampleIds[r]!,
          refined,
          otherTop.top1Prob[r]!,
          refined,
          otherTop.top1Prob[r]!,
          otherTop.top2[r]!,
          otherTop.top2Prob[r]!,
          g >= 0 && g !== refined ? 1 : 0,
          null,
        )
      }
      db.prepare('UPDATE runs SET status = ?, finished_at = ?, timings = ?, metrics = ? WHERE id = ?').run(
        'done',
        now(),
        JSON.stringify(result.timings),
        JSON.stringify(metrics),
        runId,
      )
    })()
    return { runId, result }
  } catch (e) {
    fail(e instanceof CancelledError || opts.signal?.aborted ? 'cancelled' : 'failed', e)
    throw e
  }
}
