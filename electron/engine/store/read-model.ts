/**
 * Read-side queries the UI needs over the project store (schema v1 in engine/store/db.ts): the
 * review grid, runs, confusion matrix, noise estimate, review counters, project counts,
 * backbones and validations. They
 * are SQL over the stored tables, so filtering and paging happen in SQLite, not in JavaScript.
 *
 * Review status of a sample = its latest review event that is not an undo and has not been undone
 * (review_events is append-only; an undo is a new event pointing at the one it cancels).
 */
import type { Db } from './db.ts'
import { NotFoundError } from '../errors.ts'
import { backboneDim, latestDoneRunId } from './runs.ts'
import { finalLabelSql } from './labels.ts'
import { runWarnings, selectionView } from '../train/run-report.ts'
import { effectiveStatus } from '../jobs/owner.ts'
import type {
  ClassInfo,
  ParsedInputOf,
  ReviewEvent,
  ReviewProgress,
  ReviewStatus,
  RunDetail,
  RunSummary,
  SampleRow,
} from '../../../shared/contract.ts'

/** CTE `rev(sample_id, action, class_idx)`: each sample's standing decision. */
export const REVIEW_CTE = `
  undone AS (SELECT undoes AS id FROM review_events WHERE action = 'undo' AND undoes IS NOT NULL),
  lastev AS (
    SELECT sample_id, max(id) AS id FROM review_events
    WHERE action <> 'undo' AND id NOT IN (SELECT id FROM undone)
    GROUP BY sample_id
  ),
  rev AS (SELECT e.sample_id, e.action, e.class_idx FROM lastev l JOIN review_events e ON e.id = l.id)`

const STATUS_EXPR = `CASE rev.action WHEN 'accept' THEN 'accepted' WHEN 'keep' THEN 'kept' WHEN 'relabel' THEN 'relabelled' WHEN 'exclude' THEN 'excluded' ELSE 'unreviewed' END`
/** The final-label rule (store/labels.ts; the grid shows it without auto-accept). */
const FINAL_EXPR = finalLabelSql({ action: 'rev.action', decided: 'rev.class_idx', given: 'gc.idx', refined: 'p.refined_idx', flagged: 'p.flagged' })

const ROW_FROM = `
  FROM samples s
  JOIN sources src ON src.id = s.source_id
  LEFT JOIN classes gc ON gc.id = s.given_class_id
  LEFT JOIN classes tc ON tc.id = s.trusted_class_id
  LEFT JOIN predictions p ON p.sample_id = s.id AND p.run_id = @runId
  LEFT JOIN rev ON rev.sample_id = s.id`

const ROW_SELECT = `
  SELECT s.id, s.path, s.split, gc.idx AS given, tc.idx AS trusted, p.refined_idx AS refined, p.prob AS confidence,
         p.flagged AS flagged, p.rank AS rank, ${STATUS_EXPR} AS status, ${FINAL_EXPR} AS final,
         src.kind AS sourceKind, s.width AS width, s.height AS height,
         p.top1_idx AS top1, p.top1_prob AS top1Prob, p.top2_idx AS top2, p.top2_prob AS top2Prob`

interface RawRow {
  id: number
  path: string
  split: 'train' | 'test'
  given: number | null
  trusted: number | null
  refined: number | null
  confidence: number | null
  flagged: number | null
  rank: number | null
  status: ReviewStatus
  final: number | null
  sourceKind: string
  width: number | null
  height: number | null
  top1: number | null
  top1Prob: number | null
  top2: number | null
  top2Prob: number | null
}

function toRow(r: RawRow): SampleRow {
  return {
    id: r.id,
    path: r.path,
    split: r.split,
    given: r.given,
    trusted: r.trusted,
    refined: r.refined,
    confidence: r.confidence,
    flagged: r.flagged === null ? null : r.flagged === 1,
    // Rank 0 means "not flagged" in the engine's result; the UI only needs ranks of flagged rows.
    rank: r.rank && r.rank > 0 ? r.rank : null,
    status: r.status,
    final: r.final,
    hasImage: r.sourceKind === 'images',
  }
}

/** The latest finished run, or null. */
export function latestRunId(db: Db): number | null {
  return latestDoneRunId(db) ?? null
}

/** Resolves an optional run id: the given one (checked to exist) or the latest finished run. */
export function resolveRunId(db: Db, runId: number | undefined): number | null {
  if (runId === undefined) return latestRunId(db)
  const r = db.prepare('SELECT id FROM runs WHERE id = ?').get(runId) as { id: number } | undefined
  if (!r) throw new NotFoundError(`no run with id ${runId} in this project`)
  return r.id
}

/** Review-grid query: filters, sort, paging (see contract `querySamples`). */
export function querySamples(db: Db, q: ParsedInputOf<'querySamples'>, runId: number | null): { total: number; items: SampleRow[] } {
  const where: string[] = []
  const params: Record<string, unknown> = { runId: runId ?? -1 }
  if (q.classIdx !== undefined) {
    const col = q.classBy === 'refined' ? 'p.refined_idx' : q.classBy === 'final' ? `(${FINAL_EXPR})` : 'gc.idx'
    where.push(`${col} = @classIdx`)
    params.classIdx = q.classIdx
  }
  if (q.givenIdx !== undefined) {
    where.push('gc.idx = @givenIdx')
    params.givenIdx = q.givenIdx
  }
  if (q.refinedIdx !== undefined) {
    where.push('p.refined_idx = @refinedIdx')
    params.refinedIdx = q.refinedIdx
  }
  if (q.flagged !== undefined) where.push(q.flagged ? 'p.flagged = 1' : '(p.flagged = 0 OR p.flagged IS NULL)')
  if (q.status !== undefined) {
    if (q.status === 'reviewed') where.push('rev.action IS NOT NULL')
    else {
      where.push(`(${STATUS_EXPR}) = @status`)
      params.status = q.status
    }
  }
  if (q.split !== undefined) {
    where.push('s.split = @split')
    params.split = q.split
  }
  if (q.ids !== undefined) {
    where.push('s.id IN (SELECT value FROM json_each(@ids))')
    params.ids = JSON.stringify(q.ids)
  }
  const whereSql = where.length ? `WHERE ${where.join(' AND ')}` : ''
  const order =
    q.sort === 'id'
      ? 's.id'
      : q.sort === 'path'
        ? 's.path, s.id'
        : q.sort === 'confidence'
          ? 'p.prob DESC NULLS LAST, s.id'
          : q.sort === 'uncertain'
            ? // flagged first: trusted labels the given one contradicts (clamped, as in rank order),
              // then the smallest top-2 margin first; then the rest by confidence.
              'coalesce(p.flagged, 0) DESC, CASE WHEN p.flagged = 1 AND tc.idx IS NOT NULL AND p.refined_idx = tc.idx THEN 0 ELSE 1 END, ' +
              'CASE WHEN p.flagged = 1 THEN p.top1_prob - coalesce(p.top2_prob, 0) END ASC NULLS LAST, p.prob DESC NULLS LAST, s.id'
            : // rank (default): flagged first, most certain first, then the rest by confidence.
              'coalesce(p.flagged, 0) DESC, CASE WHEN p.rank > 0 THEN p.rank END ASC NULLS LAST, p.prob DESC NULLS LAST, s.id'
  const total = (db.prepare(`WITH ${REVIEW_CTE} SELECT count(*) AS n ${ROW_FROM} ${whereSql}`).get(params) as { n: number }).n
  const rows = db
    .prepare(`WITH ${REVIEW_CTE} ${ROW_SELECT} ${ROW_FROM} ${whereSql} ORDER BY ${order} LIMIT @limit OFFSET @offset`)
    .all({ ...params, limit: q.limit, offset: q.offset }) as RawRow[]
  return { total, items: rows.map(toRow) }
}

/** One sample's row plus its top-2 and size, or undefined when the id is not in the project. */
export function sampleWithTop(
  db: Db,
  sampleId: number,
  runId: number | null,
): { row: SampleRow; width: number | null; height: number | null; top: { idx: number; prob: number }[] } | undefined {
  const r = db.prepare(`WITH ${REVIEW_CTE} ${ROW_SELECT} ${ROW_FROM} WHERE s.id = @id`).get({ runId: runId ?? -1, id: sampleId }) as
    RawRow | undefined
  if (!r) return undefined
  const top: { idx: number; prob: number }[] = []
  if (r.top1 !== null && r.top1Prob !== null) top.push({ idx: r.top1, prob: r.top1Prob })
  if (r.top2 !== null && r.top2Prob !== null) top.push({ idx: r.top2, prob: r.top2Prob })
  return { row: toRow(r), width: r.width, height: r.height, top }
}

/** Rows for a set of ids (any order), keyed by id. */
export function rowsByIds(db: Db, ids: number[], runId: number | null): Map<number, SampleRow> {
  const rows = db
    .prepare(`WITH ${REVIEW_CTE} ${ROW_SELECT} ${ROW_FROM} WHERE s.id IN (SELECT value FROM json_each(@ids))`)
    .all({ runId: runId ?? -1, ids: JSON.stringify(ids) }) as RawRow[]
  return new Map(rows.map((r) => [r.id, toRow(r)]))
}

interface RawEvent {
  id: number
  sample_id: number
  run_id: number | null
  action: ReviewEvent['action']
  class_idx: number | null
  undoes: number | null
  reviewer: string
  at: string
}

/** Converts a review_events row to the contract shape. */
export function toEvent(r: RawEvent): ReviewEvent {
  return {
    id: r.id,
    sampleId: r.sample_id,
    runId: r.run_id,
    action: r.action,
    classIdx: r.class_idx,
    undoes: r.undoes,
    reviewer: r.reviewer,
    at: r.at,
  }
}

/** A sample's review history, oldest first. */
export function reviewHistory(db: Db, sampleId: number): ReviewEvent[] {
  return (db.prepare('SELECT * FROM review_events WHERE sample_id = ? ORDER BY id').all(sampleId) as RawEvent[]).map(toEvent)
}

/** One review event by id. */
export function reviewEventById(db: Db, id: number): ReviewEvent | undefined {
  const r = db.prepare('SELECT * FROM review_events WHERE id = ?').get(id) as RawEvent | undefined
  return r ? toEvent(r) : undefined
}

/** Classes with the number of samples whose given label each is. */
export function classesWithCounts(db: Db): ClassInfo[] {
  return db
    .prepare(
      'SELECT c.idx AS idx, c.name AS name, (SELECT count(*) FROM samples s WHERE s.given_class_id = c.id) AS count FROM classes c ORDER BY c.idx',
    )
    .all() as ClassInfo[]
}

interface RawRun {
  id: number
  method: RunSummary['method']
  backbone_id: number | null
  status: RunSummary['status']
  started_at: string
  finished_at: string | null
  seed: number
  params: string
  metrics: string | null
  timings: string | null
  error: string | null
  flagged: number
  predictions: number
  /** The process that started it (schema v2; null on older rows). */
  owner_pid: number | null
  owner_host: string | null
}

function parseJson(s: string | null): Record<string, unknown> {
  if (!s) return {}
  try {
    const v = JSON.parse(s) as unknown
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v }
  } catch {
    return {}
  }
}

const RUN_SELECT = `
  SELECT r.*, (SELECT count(*) FROM predictions p WHERE p.run_id = r.id AND p.flagged = 1) AS flagged,
         (SELECT count(*) FROM predictions p WHERE p.run_id = r.id) AS predictions
  FROM runs r`

function toRunSummary(r: RawRun, classNames: string[], dim: (backboneId: number | null) => number | null): RunSummary {
  const metrics = parseJson(r.metrics)
  const counts = Array.isArray(metrics.trainClassCounts) ? (metrics.trainClassCounts as number[]) : []
  const trusted = metrics.trusted as RunSummary['trusted'] | undefined
  return {
    id: r.id,
    method: r.method,
    backboneId: r.backbone_id,
    // 'running' whose process is gone: 'interrupted' (engine/jobs/owner.ts).
    status: effectiveStatus(r.status, { pid: r.owner_pid ?? null, host: r.owner_host ?? null }),
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    seed: r.seed,
    params: parseJson(r.params),
    metrics,
    flagged: r.flagged,
    predictions: r.predictions,
    error: r.error,
    selection: selectionView(metrics, counts),
    warnings: r.status === 'done' ? runWarnings(metrics, classNames, dim(r.backbone_id)) : [],
    trusted: trusted ?? null,
  }
}

function runContext(db: Db): [string[], (backboneId: number | null) => number | null] {
  const names = (db.prepare('SELECT name FROM classes ORDER BY idx').all() as { name: string }[]).map((c) => c.name)
  return [names, (id) => backboneDim(db, id)]
}

/** Runs, newest first. */
export function listRuns(db: Db): RunSummary[] {
  const [names, dim] = runContext(db)
  return (db.prepare(`${RUN_SELECT} ORDER BY r.id DESC`).all() as RawRun[]).map((r) => toRunSummary(r, names, dim))
}

/** One run summary, or undefined. */
export function runSummary(db: Db, runId: number): RunSummary | undefined {
  const r = db.prepare(`${RUN_SELECT} WHERE r.id = ?`).get(runId) as RawRun | undefined
  return r ? toRunSummary(r, ...runContext(db)) : undefined
}

/** One run in detail, or undefined. */
export function runDetail(db: Db, runId: number): RunDetail | undefined {
  const r = db.prepare(`${RUN_SELECT} WHERE r.id = ?`).get(runId) as RawRun | undefined
  if (!r) return undefined
  const perClass = db
    .prepare(
      `SELECT c.idx AS idx, c.name AS name,
              (SELECT count(*) FROM predictions p JOIN samples s ON s.id = p.sample_id WHERE p.run_id = @run AND s.given_class_id = c.id) AS given,
              (SELECT count(*) FROM predictions p WHERE p.run_id = @run AND p.refined_idx = c.idx) AS refined,
              (SELECT count(*) FROM predictions p JOIN samples s ON s.id = p.sample_id WHERE p.run_id = @run AND s.given_class_id = c.id AND p.flagged = 1) AS flagged
       FROM classes c ORDER BY c.idx`,
    )
    .all({ run: runId }) as RunDetail['perClass']
  return { ...toRunSummary(r, ...runContext(db)), timings: parseJson(r.timings), perClass }
}

/** Confusion matrix, given (rows) x refined (columns), over the run's predictions. */
export function confusion(db: Db, runId: number | null): { classes: string[]; matrix: number[][] } {
  const classes = (db.prepare('SELECT name FROM classes ORDER BY idx').all() as { name: string }[]).map((c) => c.name)
  const k = classes.length
  const matrix = Array.from({ length: k }, () => new Array<number>(k).fill(0))
  if (runId !== null) {
    const cells = db
      .prepare(
        'SELECT gc.idx AS g, p.refined_idx AS r, count(*) AS n FROM predictions p JOIN samples s ON s.id = p.sample_id JOIN classes gc ON gc.id = s.given_class_id WHERE p.run_id = ? GROUP BY gc.idx, p.refined_idx',
      )
      .all(runId) as { g: number; r: number; n: number }[]
    for (const c of cells) {
      const row = matrix[c.g]
      if (row && c.r >= 0 && c.r < k) row[c.r] = c.n
    }
  }
  return { classes, matrix }
}

/**
 * Noise estimate: the fraction of the run's samples whose refined label differs from the given
 * one (the refinement's estimate of the label-noise rate), overall and per given class; and, where
 * trusted labels exist, the measured given-label error rate against them. Counted on the refined
 * label, not the flag: a run that trained on review decisions clamps them (refined = the
 * decision, never flagged), and a label the reviewer corrected is still a wrong given label.
 */
export function noiseEstimate(
  db: Db,
  runId: number | null,
): {
  estimate: number | null
  trustedErrorRate: number | null
  /** Samples with both a given and a trusted label, and how many of those disagree. */
  trustedCount: number
  trustedWrong: number
  perClass: { idx: number; name: string; given: number; flagged: number; rate: number }[]
} {
  const t = db
    .prepare(
      'SELECT count(*) AS n, sum(CASE WHEN given_class_id <> trusted_class_id THEN 1 ELSE 0 END) AS wrong FROM samples WHERE trusted_class_id IS NOT NULL AND given_class_id IS NOT NULL',
    )
    .get() as { n: number; wrong: number | null }
  const trustedErrorRate = t.n > 0 ? (t.wrong ?? 0) / t.n : null
  const trusted = { trustedErrorRate, trustedCount: t.n, trustedWrong: t.wrong ?? 0 }
  if (runId === null) return { estimate: null, ...trusted, perClass: [] }
  const perClass = (
    db
      .prepare(
        `SELECT c.idx AS idx, c.name AS name, count(p.sample_id) AS given,
                coalesce(sum(CASE WHEN p.refined_idx IS NOT NULL AND p.refined_idx <> c.idx THEN 1 ELSE 0 END), 0) AS flagged
         FROM classes c LEFT JOIN samples s ON s.given_class_id = c.id LEFT JOIN predictions p ON p.sample_id = s.id AND p.run_id = ?
         GROUP BY c.id ORDER BY c.idx`,
      )
      .all(runId) as { idx: number; name: string; given: number; flagged: number }[]
  ).map((c) => ({ ...c, rate: c.given > 0 ? c.flagged / c.given : 0 }))
  const n = perClass.reduce((a, c) => a + c.given, 0)
  const f = perClass.reduce((a, c) => a + c.flagged, 0)
  return { estimate: n > 0 ? f / n : null, ...trusted, perClass }
}

/** Review counters (decisions are global to a sample; `flagged` refers to the run). */
export function reviewProgress(db: Db, runId: number | null): ReviewProgress {
  const r = db
    .prepare(
      `WITH ${REVIEW_CTE}
       SELECT count(*) AS total,
              coalesce(sum(CASE WHEN p.flagged = 1 THEN 1 ELSE 0 END), 0) AS flagged,
              coalesce(sum(CASE WHEN rev.action IS NOT NULL THEN 1 ELSE 0 END), 0) AS reviewed,
              coalesce(sum(CASE WHEN rev.action IS NOT NULL AND p.flagged = 1 THEN 1 ELSE 0 END), 0) AS flaggedReviewed
       FROM samples s LEFT JOIN predictions p ON p.sample_id = s.id AND p.run_id = @runId LEFT JOIN rev ON rev.sample_id = s.id`,
    )
    .get({ runId: runId ?? -1 }) as { total: number; flagged: number; reviewed: number; flaggedReviewed: number }
  const by = db
    .prepare(`WITH ${REVIEW_CTE} SELECT ${STATUS_EXPR} AS status, count(*) AS n FROM samples s LEFT JOIN rev ON rev.sample_id = s.id GROUP BY 1`)
    .all() as { status: string; n: number }[]
  const byStatus: Record<string, number> = { unreviewed: 0, accepted: 0, kept: 0, relabelled: 0, excluded: 0 }
  for (const b of by) byStatus[b.status] = b.n
  return { ...r, byStatus }
}

/** Counts shown for an open project. */
export function projectCounts(db: Db): {
  samples: number
  train: number
  test: number
  trusted: number
  backbones: number
  runs: number
  reviewEvents: number
} {
  const count = (sql: string): number => (db.prepare(sql).get() as { n: number }).n
  return {
    samples: count('SELECT count(*) AS n FROM samples'),
    train: count("SELECT count(*) AS n FROM samples WHERE split = 'train'"),
    test: count("SELECT count(*) AS n FROM samples WHERE split = 'test'"),
    trusted: count('SELECT count(*) AS n FROM samples WHERE trusted_class_id IS NOT NULL'),
    backbones: count('SELECT count(*) AS n FROM backbones'),
    runs: count('SELECT count(*) AS n FROM runs'),
    reviewEvents: count('SELECT count(*) AS n FROM review_events'),
  }
}

/** A registered backbone with the number of this project's samples that have features from it. */
export interface BackboneSummary {
  id: number
  name: string
  kind: 'builtin' | 'catalogue' | 'file' | 'embeddings' | 'remote'
  dim: number
  modelPath: string | null
  inputShape: (number | string)[] | null
  features: number
  /** The model tensor the features come from (null for embeddings). */
  featureTensor: string | null
  /** 'penultimate', 'output' or a tensor name; null before schema v5. */
  featureLayer: string | null
}

const FEATURES_OF = '(SELECT count(*) FROM samples s JOIN features f ON f.hash = s.hash AND f.backbone_id = b.id)'

/** Every backbone of the project, oldest first. */
export function backboneSummaries(db: Db): BackboneSummary[] {
  const rows = db
    .prepare(
      `SELECT b.id, b.name, b.kind, b.dim, b.model_path AS modelPath, b.input_shape AS inputShape, ${FEATURES_OF} AS features, b.output_name AS featureTensor, b.feature_layer AS featureLayer FROM backbones b ORDER BY b.id`,
    )
    .all() as (Omit<BackboneSummary, 'inputShape'> & { inputShape: string | null })[]
  return rows.map((r) => ({ ...r, inputShape: r.inputShape ? (JSON.parse(r.inputShape) as (number | string)[]) : null }))
}

/** The backbone with the most stored features (newest on ties), or undefined when none has any. */
export function backboneWithMostFeatures(db: Db): number | undefined {
  const r = db.prepare(`SELECT b.id AS id, ${FEATURES_OF} AS n FROM backbones b ORDER BY n DESC, b.id DESC LIMIT 1`).get() as
    { id: number; n: number } | undefined
  return r && r.n > 0 ? r.id : undefined
}

/** Samples with features from a backbone (the feature cache reloads when it changes). */
export function featureCount(db: Db, backboneId: number): number {
  return (db.prepare('SELECT count(*) AS n FROM samples s JOIN features f ON f.hash = s.hash AND f.backbone_id = ?').get(backboneId) as { n: number })
    .n
}

/** The backbone a run used, or null. */
export function runBackboneId(db: Db, runId: number | null): number | null {
  if (runId === null) return null
  const r = db.prepare('SELECT backbone_id AS b FROM runs WHERE id = ?').get(runId) as { b: number | null } | undefined
  return r?.b ?? null
}

/** Where an image sample's file is: its stored path and hash, and its source root. */
export function imageSampleLocation(db: Db, sampleId: number): { path: string; hash: string; root: string } | undefined {
  return db
    .prepare(
      "SELECT s.path AS path, s.hash AS hash, src.root AS root FROM samples s JOIN sources src ON src.id = s.source_id WHERE s.id = ? AND src.kind = 'images'",
    )
    .get(sampleId) as { path: string; hash: string; root: string } | undefined
}

/** As stored, or 'interrupted': stored as 'running' but its process is gone (engine/jobs/owner.ts). */
export type ValidationStatus = 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted'

/** A validation sweep as stored (params and results parsed). */
export interface StoredValidation {
  id: number
  status: ValidationStatus
  params: Record<string, unknown>
  results: unknown
  startedAt: string
  finishedAt: string | null
}

interface RawValidation {
  id: number
  status: Exclude<ValidationStatus, 'interrupted'>
  params: string
  results: string | null
  started_at: string
  finished_at: string | null
  owner_pid: number | null
  owner_host: string | null
}

function toValidation(r: RawValidation): StoredValidation {
  return {
    id: r.id,
    status: effectiveStatus(r.status, { pid: r.owner_pid ?? null, host: r.owner_host ?? null }),
    params: JSON.parse(r.params) as Record<string, unknown>,
    results: r.results ? (JSON.parse(r.results) as unknown) : null,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  }
}

/** Validation sweeps, newest first (without their results). */
export function listValidations(db: Db): Omit<StoredValidation, 'results'>[] {
  return (
    db
      .prepare('SELECT id, status, params, NULL AS results, started_at, finished_at, owner_pid, owner_host FROM validations ORDER BY id DESC')
      .all() as RawValidation[]
  ).map((r) => {
    const { results: _r, ...rest } = toValidation(r)
    return rest
  })
}

/** One validation sweep with its results, or undefined. */
export function getValidation(db: Db, id: number): StoredValidation | undefined {
  const r = db.prepare('SELECT id, status, params, results, started_at, finished_at, owner_pid, owner_host FROM validations WHERE id = ?').get(id) as
    RawValidation | undefined
  return r ? toValidation(r) : undefined
}
