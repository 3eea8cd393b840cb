/**
 * One project = one SQLite file (better-sqlite3). WAL journal, foreign keys on, versioned
 * migrations applied in one transaction each. Every multi-row write elsewhere goes through
 * `db.transaction(...)`.
 */
import Database from 'better-sqlite3'
import { existsSync, mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'

export type Db = Database.Database

/**
 * Migrations, applied in order; `PRAGMA user_version` records how many have run. Never edit a
 * released migration: append a new one.
 */
export const MIGRATIONS: string[] = [
  // 1: initial schema
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );

  -- Label vocabulary. idx is the column of the class in every model (0..K-1), stable once set.
  CREATE TABLE classes (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    idx  INTEGER NOT NULL UNIQUE
  );

  -- Where samples come from: an image root folder, or an embeddings file.
  CREATE TABLE sources (
    id       INTEGER PRIMARY KEY,
    kind     TEXT NOT NULL CHECK (kind IN ('images', 'embeddings')),
    root     TEXT NOT NULL,           -- absolute folder (images) or absolute .npy path (embeddings)
    added_at TEXT NOT NULL,
    UNIQUE (kind, root)
  );

  CREATE TABLE samples (
    id               INTEGER PRIMARY KEY,
    source_id        INTEGER NOT NULL REFERENCES sources(id),
    path             TEXT NOT NULL,   -- relative to the source root ('/' separators); row id for embeddings
    hash             TEXT NOT NULL,   -- sha256 of the file content (images) or of the row's float32 bytes (embeddings)
    size             INTEGER NOT NULL DEFAULT 0,
    width            INTEGER,
    height           INTEGER,
    split            TEXT NOT NULL DEFAULT 'train' CHECK (split IN ('train', 'test')),
    given_class_id   INTEGER REFERENCES classes(id),
    trusted_class_id INTEGER REFERENCES classes(id),
    added_at         TEXT NOT NULL,
    UNIQUE (source_id, path)
  );
  CREATE INDEX samples_hash ON samples(hash);

  -- Files an import could not take, with the reason; kept so the user sees them later.
  CREATE TABLE skipped (
    id        INTEGER PRIMARY KEY,
    import_id INTEGER NOT NULL REFERENCES imports(id),
    path      TEXT NOT NULL,
    reason    TEXT NOT NULL
  );

  CREATE TABLE imports (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER REFERENCES sources(id),
    kind        TEXT NOT NULL,        -- 'imagefolder' | 'csv' | 'embeddings'
    origin      TEXT NOT NULL,        -- the folder or file the user named
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    added       INTEGER NOT NULL DEFAULT 0,
    existing    INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0
  );

  CREATE TABLE backbones (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('builtin', 'catalogue', 'file', 'embeddings')),
    model_path   TEXT,                -- null for embeddings
    model_sha256 TEXT,
    input_name   TEXT,
    input_shape  TEXT,                -- JSON array, symbolic dims as strings
    output_name  TEXT,
    dim          INTEGER NOT NULL,
    preprocess   TEXT,                -- JSON (see backbone/preprocess.ts)
    created_at   TEXT NOT NULL
  );

  -- Features keyed by content hash + backbone, so identical images are computed once and a
  -- re-import or a moved folder never recomputes them.
  CREATE TABLE features (
    hash        TEXT NOT NULL,
    backbone_id INTEGER NOT NULL REFERENCES backbones(id),
    vec         BLOB NOT NULL,        -- float32 little-endian, length dim
    PRIMARY KEY (hash, backbone_id)
  ) WITHOUT ROWID;

  CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    method      TEXT NOT NULL,        -- 'teacher' | 'sd' | 'pll' | 'cl'
    backbone_id INTEGER REFERENCES backbones(id),
    parent_id   INTEGER REFERENCES runs(id),
    params      TEXT NOT NULL,        -- JSON
    seed        INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    timings     TEXT,                 -- JSON
    metrics     TEXT,                 -- JSON
    error       TEXT
  );

  CREATE TABLE predictions (
    run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    sample_id    INTEGER NOT NULL REFERENCES samples(id),
    refined_idx  INTEGER NOT NULL,    -- class idx
    prob         REAL NOT NULL,       -- probability of the refined class
    top1_idx     INTEGER NOT NULL,
    top1_prob    REAL NOT NULL,
    top2_idx     INTEGER NOT NULL,
    top2_prob    REAL NOT NULL,
    flagged      INTEGER NOT NULL,    -- refined != given
    rank         INTEGER,             -- review order among flagged, 1 = most certain
    PRIMARY KEY (run_id, sample_id)
  ) WITHOUT ROWID;

  -- Append-only: a decision is never updated or deleted; an undo is a new event that points at
  -- the one it undoes. A trigger refuses updates and deletes.
  CREATE TABLE review_events (
    id         INTEGER PRIMARY KEY,
    sample_id  INTEGER NOT NULL REFERENCES samples(id),
    run_id     INTEGER REFERENCES runs(id),
    action     TEXT NOT NULL CHECK (action IN ('accept', 'keep', 'relabel', 'exclude', 'undo')),
    class_idx  INTEGER,               -- the label decided (accept/keep/relabel)
    undoes     INTEGER REFERENCES review_events(id),
    reviewer   TEXT NOT NULL,
    at         TEXT NOT NULL
  );
  CREATE INDEX review_events_sample ON review_events(sample_id, id);
  CREATE TRIGGER review_events_no_update BEFORE UPDATE ON review_events
    BEGIN SELECT RAISE(ABORT, 'review_events is append-only'); END;
  CREATE TRIGGER review_events_no_delete BEFORE DELETE ON review_events
    BEGIN SELECT RAISE(ABORT, 'review_events is append-only'); END;

  CREATE TABLE validations (
    id          INTEGER PRIMARY KEY,
    params      TEXT NOT NULL,        -- JSON
    status      TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
    results     TEXT,                 -- JSON
    started_at  TEXT NOT NULL,
    finished_at TEXT
  );
  `,
]

export const SCHEMA_VERSION = MIGRATIONS.length

/** Opens (creating if needed) a project file and brings its schema up to date. */
export function openDb(file: string, opts: { create?: boolean; readonly?: boolean } = {}): Db {
  const abs = resolve(file)
  if (!existsSync(abs)) {
    if (opts.create === false || opts.readonly) throw new Error(`${abs}: no such project file`)
    mkdirSync(dirname(abs), { recursive: true })
  }
  let db: Db
  try {
    db = new Database(abs, { readonly: opts.readonly ?? false, fileMustExist: opts.create === false })
  } catch (e) {
    throw new Error(`${abs}: cannot open project file (${(e as Error).message})`)
  }
  try {
    if (!opts.readonly) db.pragma('journal_mode = WAL')
    db.pragma('foreign_keys = ON')
    db.pragma('busy_timeout = 5000')
    // NORMAL in WAL mode is durable against a process crash (kill -9); only an OS crash can lose
    // the last transactions.
    db.pragma('synchronous = NORMAL')
    if (!opts.readonly) migrate(db, abs)
  } catch (e) {
    db.close()
    const msg = (e as Error).message
    // SQLite's own errors (e.g. SQLITE_NOTADB for a text file) do not say which file.
    throw msg.startsWith(abs) ? e : new Error(`${abs}: cannot open project file (${msg})`)
  }
  return db
}

function migrate(db: Db, file: string): void {
  const current = db.pragma('user_version', { simple: true }) as number
  if (current > SCHEMA_VERSION) {
    throw new Error(`${file}: project schema v${current} is newer than this app (v${SCHEMA_VERSION}); update the app`)
  }
  if (current === 0) {
    // A file with tables but no version is not ours.
    const n = (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n
    if (n > 0) throw new Error(`${file}: not a seed-qc project (unknown SQLite database)`)
  }
  for (let v = current; v < SCHEMA_VERSION; v++) {
    const sql = MIGRATIONS[v]!
    db.transaction(() => {
      db.exec(sql)
      db.pragma(`user_version = ${v + 1}`)
    })()
  }
  if (current === 0) {
    db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)").run(new Date().toISOString())
  }
}

/** ISO timestamp used for every *_at column. */
export function now(): string {
  return new Date().toISOString()
}

export function getMeta(db: Db, key: string): string | undefined {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined
  return row?.value
}

export function setMeta(db: Db, key: string, value: string): void {
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value)
}

export interface ClassRow {
  id: number
  name: string
  idx: number
}

/** All classes ordered by idx (the model's column order). */
export function listClasses(db: Db): ClassRow[] {
  return db.prepare('SELECT id, name, idx FROM classes ORDER BY idx').all() as ClassRow[]
}

/** Returns the class id for a name, creating it with the next free idx. Call inside a transaction. */
export function ensureClass(db: Db, name: string): number {
  const trimmed = name.trim()
  if (!trimmed) throw new Error('empty class name')
  const row = db.prepare('SELECT id FROM classes WHERE name = ?').get(trimmed) as { id: number } | undefined
  if (row) return row.id
  const next = (db.prepare('SELECT coalesce(max(idx) + 1, 0) AS n FROM classes').get() as { n: number }).n
  return Number(db.prepare('INSERT INTO classes (name, idx) VALUES (?, ?)').run(trimmed, next).lastInsertRowid)
}

/** Float32 vector <-> BLOB (little-endian). */
export function vecToBlob(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength)
}

export function blobToVec(b: Buffer): Float32Array {
  // Copy: the Buffer may not be 4-byte aligned.
  const out = new Float32Array(b.byteLength / 4)
  new Uint8Array(out.buffer).set(b)
  return out
}
