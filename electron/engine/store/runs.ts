/**
 * Repository of refinement runs and their predictions: every SQL statement on `runs` and
 * `predictions` that the engine writes lives here.
 */
import { now, type Db } from './db.ts'

export type RunStatus = 'running' | 'done' | 'failed' | 'cancelled'

/** One stored prediction of a run. */
export interface PredictionRow {
  sampleId: number
  refined: number
  prob: number
  top1: number
  top1Prob: number
  top2: number
  top2Prob: number
  flagged: 0 | 1
  /** Review order among flagged samples (1 = most certain), null otherwise. */
  rank: number | null
}

/** Whether a backbone with this id is registered. */
export function backboneExists(db: Db, backboneId: number): boolean {
  return db.prepare('SELECT 1 FROM backbones WHERE id = ?').get(backboneId) !== undefined
}

/** Feature dimension of a backbone, or null when unknown. */
export function backboneDim(db: Db, backboneId: number | null | undefined): number | null {
  if (backboneId === null || backboneId === undefined) return null
  const r = db.prepare('SELECT dim FROM backbones WHERE id = ?').get(backboneId) as { dim: number | null } | undefined
  return r?.dim ?? null
}

/** Inserts a run with status 'running'; returns its id. */
export function insertRun(db: Db, r: { method: string; backboneId: number; params: Record<string, unknown>; seed: number }): number {
  return Number(
    db
      .prepare('INSERT INTO runs (method, backbone_id, params, seed, status, started_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(r.method, r.backboneId, JSON.stringify(r.params), r.seed, 'running', now()).lastInsertRowid,
  )
}

/** Ends a run as failed or cancelled, with the reason. */
export function failRun(db: Db, runId: number, status: 'failed' | 'cancelled', error: string): void {
  db.prepare('UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE id = ?').run(status, now(), error, runId)
}

/**
 * Stores a finished run in one transaction: its predictions, the method that ran (for 'auto',
 * the one chosen), timings and metrics, status 'done'.
 */
export function completeRun(
  db: Db,
  runId: number,
  done: { method: string; timings: Record<string, number>; metrics: Record<string, unknown>; predictions: Iterable<PredictionRow> },
): void {
  const ins = db.prepare(
    `INSERT INTO predictions (run_id, sample_id, refined_idx, prob, top1_idx, top1_prob, top2_idx, top2_prob, flagged, rank)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
  db.transaction(() => {
    for (const p of done.predictions) ins.run(runId, p.sampleId, p.refined, p.prob, p.top1, p.top1Prob, p.top2, p.top2Prob, p.flagged, p.rank)
    db.prepare('UPDATE runs SET method = ?, status = ?, finished_at = ?, timings = ?, metrics = ? WHERE id = ?').run(
      done.method,
      'done',
      now(),
      JSON.stringify(done.timings),
      JSON.stringify(done.metrics),
      runId,
    )
  })()
}

/** Refined label per sample of a run. */
export function runLabels(db: Db, runId: number): Map<number, number> {
  const rows = db.prepare('SELECT sample_id, refined_idx FROM predictions WHERE run_id = ?').all(runId) as {
    sample_id: number
    refined_idx: number
  }[]
  return new Map(rows.map((r) => [r.sample_id, r.refined_idx]))
}

/** The latest run with status 'done' (by finish time, then id), or undefined. */
export function latestDoneRunId(db: Db): number | undefined {
  const r = db.prepare("SELECT id FROM runs WHERE status = 'done' ORDER BY coalesce(finished_at, started_at) DESC, id DESC LIMIT 1").get() as
    { id: number } | undefined
  return r?.id
}

/** A run's status, or undefined when there is no run with this id. */
export function runStatus(db: Db, runId: number): RunStatus | undefined {
  const r = db.prepare('SELECT status FROM runs WHERE id = ?').get(runId) as { status: RunStatus } | undefined
  return r?.status
}

/** What an export records about the run it used (params as stored JSON text), or undefined. */
export interface RunProvenance {
  id: number
  method: string
  params: string
  seed: number
  backboneId: number | null
  finishedAt: string | null
}

/** The provenance fields of one run, or undefined. */
export function runProvenance(db: Db, runId: number): RunProvenance | undefined {
  return db.prepare('SELECT id, method, params, seed, backbone_id AS backboneId, finished_at AS finishedAt FROM runs WHERE id = ?').get(runId) as
    RunProvenance | undefined
}

/** A run's refined label (class idx) for one sample, or undefined when the run has no prediction for it. */
export function refinedLabelOf(db: Db, runId: number, sampleId: number): number | undefined {
  const p = db.prepare('SELECT refined_idx FROM predictions WHERE run_id = ? AND sample_id = ?').get(runId, sampleId) as
    { refined_idx: number } | undefined
  return p?.refined_idx
}

/** Ids of the samples a run flagged (refined label differs from the given one). */
export function flaggedSampleIds(db: Db, runId: number): number[] {
  return (db.prepare('SELECT sample_id AS id FROM predictions WHERE run_id = ? AND flagged = 1').all(runId) as { id: number }[]).map((r) => r.id)
}

/** How many samples a run flagged (training and other samples alike). */
export function flaggedCount(db: Db, runId: number): number {
  return (db.prepare('SELECT count(*) AS c FROM predictions WHERE run_id = ? AND flagged = 1').get(runId) as { c: number }).c
}

/** A run's stored metrics ({} when it has none or does not exist). */
export function runMetrics(db: Db, runId: number): Record<string, unknown> {
  const r = db.prepare('SELECT metrics FROM runs WHERE id = ?').get(runId) as { metrics: string | null } | undefined
  return r?.metrics ? (JSON.parse(r.metrics) as Record<string, unknown>) : {}
}

/** What a finished run chose (metrics.chosen) and ran with, for a re-run that keeps the choice; undefined when there is no such run. */
export function runChoice(
  db: Db,
  runId: number,
): { method: string; backboneId: number | null; seed: number; params: Record<string, unknown>; chosen: Record<string, unknown> } | undefined {
  const r = db.prepare('SELECT method, backbone_id AS backboneId, seed, params, metrics FROM runs WHERE id = ?').get(runId) as
    { method: string; backboneId: number | null; seed: number; params: string; metrics: string | null } | undefined
  if (!r) return undefined
  const metrics = r.metrics ? (JSON.parse(r.metrics) as { chosen?: Record<string, unknown> }) : {}
  return {
    method: r.method,
    backboneId: r.backboneId,
    seed: r.seed,
    params: JSON.parse(r.params) as Record<string, unknown>,
    chosen: metrics.chosen ?? {},
  }
}

/** Each sample's suggestion in a run: refined class and whether it was flagged. */
export function runSuggestions(db: Db, runId: number): Map<number, { refined: number; flagged: boolean }> {
  const rows = db.prepare('SELECT sample_id AS id, refined_idx AS refined, flagged FROM predictions WHERE run_id = ?').all(runId) as {
    id: number
    refined: number
    flagged: number
  }[]
  return new Map(rows.map((r) => [r.id, { refined: r.refined, flagged: r.flagged === 1 }]))
}
