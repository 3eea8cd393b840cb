/**
 * Repository of the `imports` and `skipped` tables as an import writes them: one `imports` row per
 * import, its counters raised batch by batch, and a `skipped` row per file it could not take.
 * Reading them back: `listImports` and `listSkipped` in samples.ts.
 */
import { now, type Db } from './db.ts'

/** Starts an import record; returns its id. */
export function insertImport(db: Db, i: { sourceId: number | null; kind: string; origin: string }): number {
  return Number(
    db.prepare('INSERT INTO imports (source_id, kind, origin, started_at) VALUES (?, ?, ?, ?)').run(i.sourceId, i.kind, i.origin, now())
      .lastInsertRowid,
  )
}

/** Marks an import as finished now. */
export function finishImport(db: Db, importId: number): void {
  db.prepare('UPDATE imports SET finished_at = ? WHERE id = ?').run(now(), importId)
}

/** Adds one batch's counts to an import's totals. */
export function addImportCounts(db: Db, importId: number, c: { added: number; existing: number; skipped: number }): void {
  db.prepare('UPDATE imports SET added = added + ?, existing = existing + ?, skipped = skipped + ? WHERE id = ?').run(
    c.added,
    c.existing,
    c.skipped,
    importId,
  )
}

/** Records skipped files of one import; the statement is prepared once per writer (one per batch). */
export interface SkippedWriter {
  insert(path: string, reason: string): void
}

/** A writer of `skipped` rows for `importId`; call `insert` inside the caller's transaction. */
export function skippedWriter(db: Db, importId: number): SkippedWriter {
  const st = db.prepare('INSERT INTO skipped (import_id, path, reason) VALUES (?, ?, ?)')
  return {
    insert(path, reason) {
      st.run(importId, path, reason)
    },
  }
}
