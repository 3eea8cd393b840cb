/**
 * Sample queries over the project store (schema in db.ts).
 *
 * Paths: a sample's `path` is relative to its source's `root`, with '/' separators, so a project
 * survives a moved folder (re-point the source) and the file on disk is always
 * `join(source.root, sample.path)` (see `sampleFile`). For an embeddings source the path is the
 * label CSV's first column (an id or a path) and names no file.
 */
import { join, sep } from 'node:path'
import type { Statement } from 'better-sqlite3'
import { now, type Db } from './db.ts'

/** Prepared statements per connection: per-row helpers are called in loops over every sample. */
const cache = new WeakMap<Db, Map<string, Statement>>()
function stmt(db: Db, sql: string): Statement {
  let m = cache.get(db)
  if (!m) cache.set(db, (m = new Map()))
  let st = m.get(sql)
  if (!st) m.set(sql, (st = db.prepare(sql)))
  return st
}

export type SourceKind = 'images' | 'embeddings'
export type Split = 'train' | 'test'

export interface SourceRow {
  id: number
  kind: SourceKind
  root: string
  addedAt: string
}

/** Returns the id of the source (kind, root), creating it if new. */
export function ensureSource(db: Db, kind: SourceKind, root: string): number {
  const row = db.prepare('SELECT id FROM sources WHERE kind = ? AND root = ?').get(kind, root) as { id: number } | undefined
  if (row) return row.id
  return Number(db.prepare('INSERT INTO sources (kind, root, added_at) VALUES (?, ?, ?)').run(kind, root, now()).lastInsertRowid)
}

/** All sources, oldest first. */
export function listSources(db: Db): SourceRow[] {
  return db.prepare('SELECT id, kind, root, added_at AS addedAt FROM sources ORDER BY id').all() as SourceRow[]
}

/** A sample as stored, with its labels resolved to class names and model indices. */
export interface SampleRow {
  id: number
  sourceId: number
  sourceKind: SourceKind
  sourceRoot: string
  path: string
  hash: string
  size: number
  width: number | null
  height: number | null
  split: Split
  givenIdx: number | null
  givenLabel: string | null
  trustedIdx: number | null
  trustedLabel: string | null
  addedAt: string
}

const SAMPLE_SELECT = `
  SELECT s.id, s.source_id AS sourceId, src.kind AS sourceKind, src.root AS sourceRoot, s.path, s.hash, s.size,
         s.width, s.height, s.split, g.idx AS givenIdx, g.name AS givenLabel, t.idx AS trustedIdx,
         t.name AS trustedLabel, s.added_at AS addedAt
  FROM samples s
  JOIN sources src ON src.id = s.source_id
  LEFT JOIN classes g ON g.id = s.given_class_id
  LEFT JOIN classes t ON t.id = s.trusted_class_id`

export interface SampleFilter {
  split?: Split
  sourceId?: number
  /** Only these sample ids. */
  ids?: number[]
  /** Given label by class idx. */
  givenIdx?: number
  limit?: number
  offset?: number
}

/** Samples in id order, optionally filtered and paged. */
export function listSamples(db: Db, f: SampleFilter = {}): SampleRow[] {
  const { where, args } = sampleWhere(f)
  let sql = `${SAMPLE_SELECT} ${where} ORDER BY s.id`
  if (f.limit !== undefined) {
    sql += ' LIMIT ? OFFSET ?'
    args.push(f.limit, f.offset ?? 0)
  }
  return db.prepare(sql).all(...args) as SampleRow[]
}

/** Number of samples matching a filter (paging ignored). */
export function countSamples(db: Db, f: SampleFilter = {}): number {
  const { where, args } = sampleWhere(f)
  return (db.prepare(`SELECT count(*) AS n FROM samples s LEFT JOIN classes g ON g.id = s.given_class_id ${where}`).get(...args) as { n: number }).n
}

function sampleWhere(f: SampleFilter): { where: string; args: (string | number)[] } {
  const cond: string[] = []
  const args: (string | number)[] = []
  if (f.split) {
    cond.push('s.split = ?')
    args.push(f.split)
  }
  if (f.sourceId !== undefined) {
    cond.push('s.source_id = ?')
    args.push(f.sourceId)
  }
  if (f.givenIdx !== undefined) {
    cond.push('g.idx = ?')
    args.push(f.givenIdx)
  }
  if (f.ids) {
    const ids = f.ids.filter((x) => Number.isInteger(x))
    cond.push(ids.length ? `s.id IN (${ids.join(',')})` : '0')
  }
  return { where: cond.length ? `WHERE ${cond.join(' AND ')}` : '', args }
}

/** One sample by id, or undefined. */
export function getSample(db: Db, id: number): SampleRow | undefined {
  return stmt(db, `${SAMPLE_SELECT} WHERE s.id = ?`).get(id) as SampleRow | undefined
}

/** One sample by (source, path), or undefined. */
export function findSample(db: Db, sourceId: number, path: string): SampleRow | undefined {
  return db.prepare(`${SAMPLE_SELECT} WHERE s.source_id = ? AND s.path = ?`).get(sourceId, path) as SampleRow | undefined
}

/** The absolute file of an image sample; undefined for embeddings samples (no file). */
export function sampleFile(s: Pick<SampleRow, 'sourceKind' | 'sourceRoot' | 'path'>): string | undefined {
  if (s.sourceKind !== 'images') return undefined
  return join(s.sourceRoot, ...s.path.split('/'))
}

/**
 * The absolute image file of a sample registered in the project, by id; undefined when the id is
 * not a sample or has no file. Servers use this so that a client can only name ids, never paths.
 */
export function sampleFileById(db: Db, id: number): string | undefined {
  const s = getSample(db, id)
  return s ? sampleFile(s) : undefined
}

/** A path relative to a root, with '/' separators (stored form). */
export function toStoredPath(rel: string): string {
  return sep === '/' ? rel : rel.split(sep).join('/')
}

export interface NewSample {
  sourceId: number
  path: string
  hash: string
  size: number
  width?: number | null
  height?: number | null
  split: Split
  givenClassId: number | null
  trustedClassId?: number | null
}

/** Inserts a sample; returns its id. */
export function insertSample(db: Db, s: NewSample): number {
  return Number(
    stmt(
      db,
      `INSERT INTO samples (source_id, path, hash, size, width, height, split, given_class_id, trusted_class_id, added_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(s.sourceId, s.path, s.hash, s.size, s.width ?? null, s.height ?? null, s.split, s.givenClassId, s.trustedClassId ?? null, now())
      .lastInsertRowid,
  )
}

/** Raw identity fields of an existing sample, for re-import comparisons. */
export interface StoredSampleKey {
  id: number
  hash: string
  size: number
  width: number | null
  height: number | null
  split: Split
  givenClassId: number | null
  trustedClassId: number | null
}

/** Existing samples of a source keyed by path (one query, for re-import). */
export function samplesByPath(db: Db, sourceId: number): Map<string, StoredSampleKey> {
  const rows = db
    .prepare(
      'SELECT id, path, hash, size, width, height, split, given_class_id AS givenClassId, trusted_class_id AS trustedClassId FROM samples WHERE source_id = ?',
    )
    .all(sourceId) as (StoredSampleKey & { path: string })[]
  return new Map(rows.map((r) => [r.path, r]))
}

/** Records new content for a sample whose file changed in place. */
export function updateSampleContent(db: Db, id: number, c: { hash: string; size: number; width?: number | null; height?: number | null }): void {
  stmt(db, 'UPDATE samples SET hash = ?, size = ?, width = ?, height = ? WHERE id = ?').run(c.hash, c.size, c.width ?? null, c.height ?? null, id)
}

/** Sets a sample's split and labels (a re-import whose manifest changed them). */
export function updateSampleLabels(db: Db, id: number, l: { split: Split; givenClassId: number | null; trustedClassId: number | null }): void {
  stmt(db, 'UPDATE samples SET split = ?, given_class_id = ?, trusted_class_id = ? WHERE id = ?').run(l.split, l.givenClassId, l.trustedClassId, id)
}

export interface SkippedRow {
  importId: number
  path: string
  reason: string
}

/** Files skipped by imports, newest import first; `importId` limits it to one import. */
export function listSkipped(db: Db, opts: { importId?: number } = {}): SkippedRow[] {
  const sql = `SELECT import_id AS importId, path, reason FROM skipped ${opts.importId !== undefined ? 'WHERE import_id = ?' : ''} ORDER BY import_id DESC, id`
  return (opts.importId !== undefined ? db.prepare(sql).all(opts.importId) : db.prepare(sql).all()) as SkippedRow[]
}

export interface ImportRow {
  id: number
  sourceId: number | null
  kind: string
  origin: string
  startedAt: string
  finishedAt: string | null
  added: number
  existing: number
  skipped: number
}

/** All imports, oldest first. */
export function listImports(db: Db): ImportRow[] {
  return db
    .prepare(
      'SELECT id, source_id AS sourceId, kind, origin, started_at AS startedAt, finished_at AS finishedAt, added, existing, skipped FROM imports ORDER BY id',
    )
    .all() as ImportRow[]
}

/** Stored (relative) path of each sample id that exists. */
export function samplePathsByIds(db: Db, ids: Iterable<number>): Map<number, string> {
  const get = db.prepare('SELECT path FROM samples WHERE id = ?')
  const out = new Map<number, string>()
  for (const id of ids) {
    const r = get.get(id) as { path: string } | undefined
    if (r) out.set(id, r.path)
  }
  return out
}

/** Where a sample comes from: its source's kind and root and the stored path (see `sampleLocations`). */
export interface SampleLocation {
  kind: SourceKind
  root: string
  path: string
}

/** Every sample's source kind, root and stored path, by sample id (one query over the project). */
export function sampleLocations(db: Db): Map<number, SampleLocation> {
  const out = new Map<number, SampleLocation>()
  for (const [id, path, kind, root] of db
    .prepare('SELECT s.id, s.path, src.kind, src.root FROM samples s JOIN sources src ON src.id = s.source_id')
    .raw(true)
    .all() as [number, string, SourceKind, string][]) {
    out.set(id, { kind, root, path })
  }
  return out
}
