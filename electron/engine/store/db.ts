/**
 * One project = one SQLite file (better-sqlite3). WAL journal, foreign keys on, versioned
 * migrations applied in one transaction each. Every multi-row write elsewhere goes through
 * `db.transaction(...)`.
 */
import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, linkSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { thisProcess } from '../jobs/owner.ts'

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
  // 2: the process that started a run or a validation sweep (its pid and host name, written by the
  // temporary triggers of every connection: see recordOwners), so that a row left 'running' by a
  // process that died is shown as interrupted (engine/jobs/owner.ts). Rows from before stay NULL.
  `
  ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
  ALTER TABLE runs ADD COLUMN owner_host TEXT;
  ALTER TABLE validations ADD COLUMN owner_pid INTEGER;
  ALTER TABLE validations ADD COLUMN owner_host TEXT;
  `,
  // 3: audits (review/audit.ts): a seeded random sample of the final labels, labelled blind. The
  // plan and the drawn samples are fixed once written; answers are appended (a corrected answer is
  // a new row, the latest one per sample counts). Triggers refuse updates and deletes on all three.
  `
  CREATE TABLE audits (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER REFERENCES runs(id),  -- the run whose flags define the stratum
    stratum     TEXT NOT NULL CHECK (stratum IN ('all', 'unflagged')),
    seed        INTEGER NOT NULL,
    precision   REAL NOT NULL,                -- target half-width of the 95% interval
    expected    REAL NOT NULL,                -- planning accuracy the size was computed for
    frame       TEXT NOT NULL,                -- JSON: population counts when drawn (review/audit.ts AuditFrame)
    created_at  TEXT NOT NULL
  );
  CREATE TABLE audit_samples (
    audit_id    INTEGER NOT NULL REFERENCES audits(id),
    position    INTEGER NOT NULL,             -- 0-based order of the draw, the order the auditor sees
    sample_id   INTEGER NOT NULL REFERENCES samples(id),
    final_idx   INTEGER NOT NULL,             -- the sample's final label when drawn (what the audit measures)
    PRIMARY KEY (audit_id, position),
    UNIQUE (audit_id, sample_id)
  ) WITHOUT ROWID;
  CREATE TABLE audit_answers (
    id          INTEGER PRIMARY KEY,
    audit_id    INTEGER NOT NULL REFERENCES audits(id),
    sample_id   INTEGER NOT NULL REFERENCES samples(id),
    class_idx   INTEGER NOT NULL,             -- the class the auditor saw
    auditor     TEXT NOT NULL,
    at          TEXT NOT NULL
  );
  CREATE INDEX audit_answers_audit ON audit_answers(audit_id, sample_id, id);
  CREATE TRIGGER audits_no_update BEFORE UPDATE ON audits BEGIN SELECT RAISE(ABORT, 'audits are append-only'); END;
  CREATE TRIGGER audits_no_delete BEFORE DELETE ON audits BEGIN SELECT RAISE(ABORT, 'audits are append-only'); END;
  CREATE TRIGGER audit_samples_no_update BEFORE UPDATE ON audit_samples BEGIN SELECT RAISE(ABORT, 'audit_samples is append-only'); END;
  CREATE TRIGGER audit_samples_no_delete BEFORE DELETE ON audit_samples BEGIN SELECT RAISE(ABORT, 'audit_samples is append-only'); END;
  CREATE TRIGGER audit_answers_no_update BEFORE UPDATE ON audit_answers BEGIN SELECT RAISE(ABORT, 'audit_answers is append-only'); END;
  CREATE TRIGGER audit_answers_no_delete BEFORE DELETE ON audit_answers BEGIN SELECT RAISE(ABORT, 'audit_answers is append-only'); END;
  `,
  // 4: remote backbones (backbone/remote.ts): a model on a KServe v2 inference server. model_path
  // holds its URL (http(s)://host:port/v2/models/NAME[/versions/V], never a token), model_sha256
  // the sha256 of its metadata. SQLite cannot widen a CHECK in place, so the table is rebuilt
  // (migrate() runs migrations with foreign keys off and checks them before committing).
  `
  CREATE TABLE backbones_v4 (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('builtin', 'catalogue', 'file', 'embeddings', 'remote')),
    model_path   TEXT,                -- null for embeddings; the server URL for remote
    model_sha256 TEXT,
    input_name   TEXT,
    input_shape  TEXT,                -- JSON array, symbolic dims as strings
    output_name  TEXT,
    dim          INTEGER NOT NULL,
    preprocess   TEXT,                -- JSON (see backbone/preprocess.ts)
    created_at   TEXT NOT NULL
  );
  INSERT INTO backbones_v4 (id, name, kind, model_path, model_sha256, input_name, input_shape, output_name, dim, preprocess, created_at)
    SELECT id, name, kind, model_path, model_sha256, input_name, input_shape, output_name, dim, preprocess, created_at FROM backbones;
  DROP TABLE backbones;
  ALTER TABLE backbones_v4 RENAME TO backbones;
  `,
  // 5: the feature layer of an image model (backbone/features.ts). feature_layer: how the tensor in
  // output_name was chosen ('penultimate': the input of the classifier head, 'output': the model's
  // own output, anything else: a tensor the user named); feature_pool: how it becomes a vector
  // ('none' for N x D, 'gap' global average pooling of N x C x H x W, 'cls' the first token of
  // N x T x D). NULL in rows from before: the model's first output, pooled by its rank.
  `
  ALTER TABLE backbones ADD COLUMN feature_layer TEXT;
  ALTER TABLE backbones ADD COLUMN feature_pool TEXT;
  `,
]

export const SCHEMA_VERSION = MIGRATIONS.length

/**
 * Opens a project file and brings its schema up to date.
 *
 * - A file that does not exist is created (unless `create: false` or `readonly`): the schema is
 *   built under a temporary name in the same folder and moved into place, so a crash never leaves
 *   a half-initialised project behind.
 * - An existing file is inspected before anything is written to it: its header is read directly
 *   and, when needed, SQLite opens it read-only. A file that is not SQLite, a SQLite database that
 *   is not a seed-qc project (no `meta` table, or tables without our schema version) and a project
 *   of a newer schema version are refused with nothing changed (no WAL switch, no schema).
 * - An existing empty file (0 bytes, or a SQLite database without any table) is initialised only
 *   when the caller asks to create a project (`create: true`); otherwise it is refused.
 */
export function openDb(file: string, opts: { create?: boolean; readonly?: boolean } = {}): Db {
  const abs = resolve(file)
  if (!existsSync(abs)) {
    if (opts.create === false || opts.readonly) throw new Error(`${abs}: no such project file`)
    mkdirSync(dirname(abs), { recursive: true })
    createProjectFile(abs)
  } else {
    inspectExisting(abs, { create: opts.create === true && !opts.readonly })
  }
  let db: Db
  try {
    db = new Database(abs, { readonly: opts.readonly ?? false, fileMustExist: true })
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
    if (!opts.readonly) {
      migrate(db, abs)
      recordOwners(db)
    }
  } catch (e) {
    db.close()
    const msg = (e as Error).message
    // SQLite's own errors (e.g. SQLITE_NOTADB for a text file) do not say which file.
    throw msg.startsWith(abs) ? e : new Error(`${abs}: cannot open project file (${msg})`)
  }
  return db
}

/**
 * Makes this connection record its process (pid, host name) on every run and validation sweep it
 * starts or resumes: temporary triggers (they live with the connection, not in the file) fire when
 * a row is inserted as 'running' or its status is set to 'running', whichever code writes it.
 */
function recordOwners(db: Db): void {
  const me = thisProcess()
  const host = `'${me.host.replace(/'/g, "''")}'`
  for (const table of ['runs', 'validations']) {
    const set = `UPDATE main.${table} SET owner_pid = ${me.pid}, owner_host = ${host} WHERE id = NEW.id;`
    db.exec(`
      CREATE TEMP TRIGGER IF NOT EXISTS ${table}_owner_insert AFTER INSERT ON main.${table} WHEN NEW.status = 'running'
        BEGIN ${set} END;
      CREATE TEMP TRIGGER IF NOT EXISTS ${table}_owner_resume AFTER UPDATE OF status ON main.${table} WHEN NEW.status = 'running'
        BEGIN ${set} END;
    `)
  }
}

/** Builds a new project under a temporary sibling name, then moves it to `abs` (never over a file). */
/** Page size of new project files (existing ones keep theirs). */
export const PAGE_SIZE = 16384

function createProjectFile(abs: string): void {
  const tmp = join(dirname(abs), `.${basename(abs)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  try {
    let db: Db
    try {
      db = new Database(tmp)
    } catch (e) {
      throw new Error(`${abs}: cannot create project file (${(e as Error).message})`)
    }
    try {
      // Set before the first table (fixed after that in WAL mode). A feature row (a 512-d float32
      // vector is 2 KB) spills into an overflow page at the default 4 KB: at 16 KB the store is
      // about 1.6x smaller and writes about 2x faster (bench/scale.ts, ARCHITECTURE 'Scale').
      db.pragma(`page_size = ${PAGE_SIZE}`)
      migrate(db, abs)
    } finally {
      db.close()
    }
    try {
      // A hard link never replaces a file that appeared meanwhile (rename would).
      linkSync(tmp, abs)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'EEXIST') throw new Error(`${abs}: a file with this name appeared while the project was being created; not replaced`)
      if (existsSync(abs)) throw e
      // File systems without hard links (FAT, some network shares): a rename, checked just before.
      renameSync(tmp, abs)
    }
  } finally {
    for (const f of [tmp, `${tmp}-journal`]) rmSync(f, { force: true })
  }
}

const SQLITE_MAGIC = 'SQLite format 3\0'

/**
 * Refuses (throws) an existing file that must not be opened read-write as a project; returns when
 * it is a project of this or an older schema version, or an empty file/database and `create`.
 * Writes nothing: -wal/-shm files that SQLite creates for a read-only look at a WAL-mode database
 * are removed again when they did not exist before and hold nothing.
 */
function inspectExisting(abs: string, opts: { create: boolean }): void {
  const st = statSync(abs)
  if (st.isDirectory()) throw new Error(`${abs}: cannot open project file (it is a folder)`)
  const notInitialised = (what: string) =>
    new Error(`${abs}: ${what}, not a seed-qc project; it is initialised only when creating a new project (nothing was written)`)
  if (st.size === 0) {
    if (opts.create) return
    throw notInitialised('an empty file')
  }
  const header = Buffer.alloc(100)
  const fd = openSync(abs, 'r')
  let got: number
  try {
    got = readSync(fd, header, 0, 100, 0)
  } finally {
    closeSync(fd)
  }
  if (got < 100 || header.subarray(0, 16).toString('latin1') !== SQLITE_MAGIC) {
    throw new Error(`${abs}: cannot open project file (file is not a database)`)
  }
  const newer = (v: number) => new Error(`${abs}: project schema v${v} is newer than this app (v${SCHEMA_VERSION}); update the app`)
  const headerVersion = header.readUInt32BE(60)
  if (headerVersion > SCHEMA_VERSION) throw newer(headerVersion)
  const wal = header[18] === 2 || header[19] === 2
  const side = [`${abs}-wal`, `${abs}-shm`]
  const existed = side.map((f) => existsSync(f))
  // A WAL-mode file without a -wal file is complete in itself: its header is authoritative. Every
  // project this app writes in WAL mode has a schema version in its header, so a version 0 here
  // is foreign (or empty); deciding that without SQLite keeps SQLite from creating -wal/-shm.
  if (wal && !existed[0] && headerVersion === 0) {
    const pages = header.readUInt32BE(28)
    if (pages <= 1) {
      if (opts.create) return
      throw notInitialised('an empty SQLite database')
    }
    throw new Error(`${abs}: not a seed-qc project (unknown SQLite database)`)
  }
  let refusal: Error | null = null
  let ro: Db | undefined
  try {
    ro = new Database(abs, { readonly: true, fileMustExist: true })
    const version = ro.pragma('user_version', { simple: true }) as number
    const tables = (ro.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name)
    if (version > SCHEMA_VERSION) refusal = newer(version)
    else if (version === 0 && tables.length === 0) refusal = opts.create ? null : notInitialised('an empty SQLite database')
    else if (version === 0 || !tables.includes('meta')) refusal = new Error(`${abs}: not a seed-qc project (unknown SQLite database)`)
  } catch (e) {
    refusal = new Error(`${abs}: cannot open project file (${(e as Error).message})`)
  } finally {
    ro?.close()
  }
  if (refusal === null) return
  // Refused: take away the -wal/-shm that the read-only look created (the -wal only while empty).
  // A project that is opened keeps them: a concurrent opener may already use them.
  side.forEach((f, i) => {
    if (existed[i] || !existsSync(f)) return
    try {
      if (f.endsWith('-shm') || statSync(f).size === 0) rmSync(f, { force: true })
    } catch {
      /* leave it */
    }
  })
  throw refusal
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
  // Foreign keys off while migrating (SQLite's procedure for rebuilding a table: a DROP TABLE with
  // them on would delete the child rows' parent); every migration is checked before it commits.
  const fk = db.pragma('foreign_keys', { simple: true }) as number
  if (current < SCHEMA_VERSION) db.pragma('foreign_keys = OFF')
  try {
    for (let v = current; v < SCHEMA_VERSION; v++) {
      const sql = MIGRATIONS[v]!
      db.transaction(() => {
        db.exec(sql)
        const broken = db.pragma('foreign_key_check') as unknown[]
        if (broken.length > 0) throw new Error(`${file}: migration to schema v${v + 1} broke ${broken.length} foreign key(s)`)
        db.pragma(`user_version = ${v + 1}`)
      })()
    }
  } finally {
    if (fk) db.pragma('foreign_keys = ON')
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

/** A class's name by its id (undefined when there is no such class). */
export function classNameById(db: Db, id: number): string | undefined {
  return (db.prepare('SELECT name FROM classes WHERE id = ?').get(id) as { name: string } | undefined)?.name
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
