import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import {
  blobToVec,
  ensureClass,
  getMeta,
  listClasses,
  MIGRATIONS,
  now,
  openDb,
  PAGE_SIZE,
  SCHEMA_VERSION,
  setMeta,
  vecToBlob,
} from '../../../electron/engine/store/db.ts'
import { ensureSource, insertSample } from '../../../electron/engine/store/samples.ts'

const tmp = () => mkdtempSync(join(tmpdir(), 'qc-db-'))

test('a new project is migrated to the current version, in WAL mode, with foreign keys on', () => {
  const f = join(tmp(), 'sub', 'p.qcdb')
  const db = openDb(f)
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION)
  assert.equal(SCHEMA_VERSION, MIGRATIONS.length)
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal')
  assert.equal(db.pragma('foreign_keys', { simple: true }), 1)
  // 16 KB pages: a 512-d feature row (2 KB) fits a page without an overflow page.
  assert.equal(db.pragma('page_size', { simple: true }), PAGE_SIZE)
  assert.equal(PAGE_SIZE, 16384)
  assert.ok(getMeta(db, 'created_at'))
  setMeta(db, 'k', 'v1')
  setMeta(db, 'k', 'v2')
  assert.equal(getMeta(db, 'k'), 'v2')
  db.close()
  // Re-opening runs nothing again and keeps the data.
  const again = openDb(f, { create: false })
  assert.equal(getMeta(again, 'k'), 'v2')
  again.close()
  const ro = openDb(f, { readonly: true })
  assert.equal(getMeta(ro, 'k'), 'v2')
  assert.throws(() => setMeta(ro, 'k', 'x'), /readonly/)
  ro.close()
})

test('foreign keys are enforced and the review log refuses updates and deletes', () => {
  const db = openDb(join(tmp(), 'p.qcdb'))
  assert.throws(
    () => db.prepare("INSERT INTO samples (source_id, path, hash, added_at) VALUES (99, 'a', 'h', ?)").run(now()),
    /FOREIGN KEY constraint failed/,
  )
  const src = ensureSource(db, 'images', '/r')
  const id = insertSample(db, { sourceId: src, path: 'a.png', hash: 'h', size: 1, split: 'train', givenClassId: ensureClass(db, 'ok') })
  db.prepare("INSERT INTO review_events (sample_id, action, reviewer, at) VALUES (?, 'exclude', 'ana', ?)").run(id, now())
  assert.throws(() => db.prepare("UPDATE review_events SET action = 'keep'").run(), /review_events is append-only/)
  assert.throws(() => db.prepare('DELETE FROM review_events').run(), /review_events is append-only/)
  assert.throws(
    () => db.prepare("INSERT INTO review_events (sample_id, action, reviewer, at) VALUES (?, 'approve', 'ana', ?)").run(id, now()),
    /CHECK constraint failed/,
  )
  db.close()
})

test('classes get stable consecutive indices; vectors round-trip through blobs', () => {
  const db = openDb(join(tmp(), 'p.qcdb'))
  const a = ensureClass(db, 'ok')
  ensureClass(db, 'dent')
  assert.equal(ensureClass(db, ' ok '), a)
  assert.deepEqual(
    listClasses(db).map((c) => [c.name, c.idx]),
    [
      ['ok', 0],
      ['dent', 1],
    ],
  )
  assert.throws(() => ensureClass(db, '  '), /empty class name/)
  const v = Float32Array.from([1.5, -2, 3e-8])
  // An unaligned Buffer (offset 1) still decodes.
  const b = Buffer.concat([Buffer.alloc(1), vecToBlob(v)]).subarray(1)
  assert.deepEqual([...blobToVec(b)], [...v])
  db.close()
})

test('refuses a foreign SQLite file, a non-database file and a newer schema, naming the file', () => {
  const dir = tmp()
  const foreign = join(dir, 'other.db')
  const o = new Database(foreign)
  o.exec('CREATE TABLE t (x)')
  o.close()
  assert.throws(
    () => openDb(foreign),
    (e: Error) => e.message === `${foreign}: not a seed-qc project (unknown SQLite database)`,
  )
  const text = join(dir, 'notes.qcdb')
  writeFileSync(text, 'this is not a database at all, just some text that is long enough to look like a header '.repeat(20))
  assert.throws(
    () => openDb(text),
    (e: Error) => e.message === `${text}: cannot open project file (file is not a database)`,
  )
  const newer = join(dir, 'newer.qcdb')
  const n = new Database(newer)
  n.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
  n.close()
  assert.throws(
    () => openDb(newer),
    (e: Error) => e.message === `${newer}: project schema v${SCHEMA_VERSION + 1} is newer than this app (v${SCHEMA_VERSION}); update the app`,
  )
  assert.throws(() => openDb(join(dir, 'missing.qcdb'), { create: false }), /missing\.qcdb: no such project file/)
})
