/**
 * Repository of the `validations` table as a validation sweep writes it: the row is created (or
 * resumed) as 'running', its results are rewritten after every finished cell, and it ends as
 * 'done', 'cancelled' or 'failed'. Reading sweeps back: `getValidation` and `listValidations` in
 * read-model.ts.
 */
import type { Db } from './db.ts'

/** Records a new sweep as 'running'; returns its id. */
export function insertValidation(db: Db, params: Record<string, unknown>, startedAt: string): number {
  return Number(
    db.prepare("INSERT INTO validations (params, status, started_at) VALUES (?, 'running', ?)").run(JSON.stringify(params), startedAt)
      .lastInsertRowid,
  )
}

/** Marks a stored sweep as running again (resume): no finish time until it ends. */
export function markValidationRunning(db: Db, id: number): void {
  db.prepare("UPDATE validations SET status = 'running', finished_at = NULL WHERE id = ?").run(id)
}

/** Writes one sweep's progress and its end; statements prepared once per writer. */
export interface ValidationWriter {
  /** Rewrites the results (after every finished cell). */
  save(results: unknown): void
  /** Ends the sweep with a status and finish time; `results` null keeps the stored ones. */
  finish(status: 'done' | 'failed' | 'cancelled', finishedAt: string, results: unknown): void
}

/** A writer for the sweep `id`. */
export function validationWriter(db: Db, id: number): ValidationWriter {
  const save = db.prepare('UPDATE validations SET results = ? WHERE id = ?')
  const finish = db.prepare('UPDATE validations SET status = ?, finished_at = ?, results = coalesce(?, results) WHERE id = ?')
  return {
    save(results) {
      save.run(JSON.stringify(results), id)
    },
    finish(status, finishedAt, results) {
      finish.run(status, finishedAt, results === null ? null : JSON.stringify(results), id)
    },
  }
}
