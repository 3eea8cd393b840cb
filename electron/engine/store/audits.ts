/**
 * Repository of `audits`, `audit_samples` and `audit_answers` (schema v3): an audit's plan and its
 * drawn samples are written once, in one transaction, and never changed; answers are appended (a
 * corrected answer is a new row and the latest one per sample counts). The tables' triggers refuse
 * updates and deletes. What an audit means and how it is estimated: review/audit.ts.
 */
import type { Db } from './db.ts'

/** An audit as stored. `frame` is the JSON text of review/audit.ts `AuditFrame`. */
export interface AuditRow {
  id: number
  runId: number | null
  stratum: 'all' | 'unflagged'
  seed: number
  precision: number
  expected: number
  frame: string
  createdAt: string
  /** Samples drawn. */
  drawn: number
  /** Drawn samples with at least one answer. */
  answered: number
  /** Time of the latest answer, or null. */
  lastAnswerAt: string | null
}

/** One drawn sample: its place in the draw and its final label when drawn. */
export interface AuditSampleRow {
  position: number
  sampleId: number
  finalIdx: number
}

/** An answer as stored. */
export interface AuditAnswerRow {
  id: number
  sampleId: number
  classIdx: number
  auditor: string
  at: string
}

const AUDIT_COLUMNS = `a.id, a.run_id AS runId, a.stratum, a.seed, a.precision, a.expected, a.frame, a.created_at AS createdAt,
  (SELECT count(*) FROM audit_samples s WHERE s.audit_id = a.id) AS drawn,
  (SELECT count(DISTINCT x.sample_id) FROM audit_answers x WHERE x.audit_id = a.id) AS answered,
  (SELECT max(x.at) FROM audit_answers x WHERE x.audit_id = a.id) AS lastAnswerAt`

/** Writes an audit and its drawn samples (in draw order); returns its id. Call inside a transaction. */
export function insertAudit(
  db: Db,
  a: { runId: number | null; stratum: 'all' | 'unflagged'; seed: number; precision: number; expected: number; frame: string; createdAt: string },
  samples: { sampleId: number; finalIdx: number }[],
): number {
  const id = Number(
    db
      .prepare('INSERT INTO audits (run_id, stratum, seed, precision, expected, frame, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(a.runId, a.stratum, a.seed, a.precision, a.expected, a.frame, a.createdAt).lastInsertRowid,
  )
  const ins = db.prepare('INSERT INTO audit_samples (audit_id, position, sample_id, final_idx) VALUES (?, ?, ?, ?)')
  samples.forEach((s, i) => ins.run(id, i, s.sampleId, s.finalIdx))
  return id
}

/** Appends an answer; returns its id. */
export function insertAuditAnswer(db: Db, a: { auditId: number; sampleId: number; classIdx: number; auditor: string; at: string }): number {
  return Number(
    db
      .prepare('INSERT INTO audit_answers (audit_id, sample_id, class_idx, auditor, at) VALUES (?, ?, ?, ?, ?)')
      .run(a.auditId, a.sampleId, a.classIdx, a.auditor, a.at).lastInsertRowid,
  )
}

/** One audit with its counts, or undefined. */
export function getAudit(db: Db, id: number): AuditRow | undefined {
  return db.prepare(`SELECT ${AUDIT_COLUMNS} FROM audits a WHERE a.id = ?`).get(id) as AuditRow | undefined
}

/** Every audit with its counts, newest first. */
export function listAudits(db: Db): AuditRow[] {
  return db.prepare(`SELECT ${AUDIT_COLUMNS} FROM audits a ORDER BY a.id DESC`).all() as AuditRow[]
}

/** The drawn samples of an audit, in draw order. */
export function auditSamples(db: Db, auditId: number): AuditSampleRow[] {
  return db
    .prepare('SELECT position, sample_id AS sampleId, final_idx AS finalIdx FROM audit_samples WHERE audit_id = ? ORDER BY position')
    .all(auditId) as AuditSampleRow[]
}

/** The latest answer per drawn sample of an audit (a sample without an answer is absent). */
export function latestAuditAnswers(db: Db, auditId: number): Map<number, AuditAnswerRow> {
  const rows = db
    .prepare('SELECT id, sample_id AS sampleId, class_idx AS classIdx, auditor, at FROM audit_answers WHERE audit_id = ? ORDER BY id')
    .all(auditId) as AuditAnswerRow[]
  const out = new Map<number, AuditAnswerRow>()
  for (const r of rows) out.set(r.sampleId, r)
  return out
}
