/**
 * Attack suite (issue 11): exports, imports and the project file as a careless user or an
 * attacker would use them. Every refusal is checked twice: the error (naming the path and why)
 * and a snapshot of the whole tree (every path with the sha256 of its content, link targets)
 * taken before and after, so that "refused" also means "nothing on disk changed".
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { listClasses, openDb, SCHEMA_VERSION, type Db } from '../../electron/engine/store/db.ts'
import { listSamples, listSkipped } from '../../electron/engine/store/samples.ts'
import { importImageFolder } from '../../electron/engine/import/image-folder.ts'
import { exportLabels, type ExportFormat } from '../../electron/engine/export/export.ts'
import { RefusedError } from '../../electron/engine/util/atomic.ts'
import { tempDir, writeImage } from './import/fixtures.ts'
import { snapshot } from './tree-snapshot.ts'

interface Fixture {
  db: Db
  /** Holds everything below. */
  dir: string
  /** images/<class>/<file>: ok/a.png ok/b.png scratch/c.png, plus ok/linked.png -> outside/real.png */
  images: string
  /** The folder holding the project file (proj/p.qcdb), apart from the images. */
  projDir: string
  projectFile: string
  /** A sample file that lies outside the images folder (the target of ok/linked.png). */
  linkedSample: string
  /** A folder of the user's that has nothing to do with the project. */
  unrelated: string
}

async function fixture(): Promise<Fixture> {
  const dir = tempDir('qc-safety-')
  const images = join(dir, 'images')
  await writeImage(join(images, 'ok', 'a.png'), 1)
  await writeImage(join(images, 'ok', 'b.png'), 2)
  await writeImage(join(images, 'scratch', 'c.png'), 3)
  const linkedSample = join(dir, 'outside', 'real.png')
  await writeImage(linkedSample, 4)
  symlinkSync(linkedSample, join(images, 'ok', 'linked.png'))
  const unrelated = join(dir, 'unrelated')
  mkdirSync(join(unrelated, 'sub'), { recursive: true })
  writeFileSync(join(unrelated, 'thesis.tex'), 'years of work')
  writeFileSync(join(unrelated, 'sub', 'data.bin'), Buffer.from([1, 2, 3]))
  const projDir = join(dir, 'proj')
  const projectFile = join(projDir, 'p.qcdb')
  const db = openDb(projectFile)
  const s = await importImageFolder(db, images)
  assert.equal(s.added, 4)
  return { db, dir, images, projDir, projectFile, linkedSample, unrelated }
}

/** Asserts that a forced export to `out` is refused with `reason` and that nothing under `dir` changed. */
async function assertRefused(f: Fixture, format: ExportFormat, out: string, reason: RegExp, force = true): Promise<void> {
  const before = snapshot(f.dir)
  await assert.rejects(exportLabels(f.db, { format, out, force }), (e: Error) => {
    assert.ok(e instanceof RefusedError, `${e.name}: ${e.message}`)
    assert.ok(e.message.startsWith(`${out}: `), `names the path: ${e.message}`)
    assert.match(e.message, reason)
    assert.match(e.message, /nothing was changed$/)
    return true
  })
  assert.deepEqual(snapshot(f.dir), before, 'nothing on disk changed')
}

// --- exports ------------------------------------------------------------------------------------

test('forced ImageFolder export over the images folder is refused, the images untouched', async () => {
  const f = await fixture()
  await assertRefused(f, 'imagefolder', f.images, /is the image folder .*images of this project/)
  // Over a class folder inside it, and over the folder that holds it.
  await assertRefused(f, 'imagefolder', join(f.images, 'ok'), /lies inside the image folder/)
  await assertRefused(f, 'imagefolder', f.dir, /contains the image folder/)
  f.db.close()
})

test('forced ImageFolder export over the folder holding the project is refused', async () => {
  const f = await fixture()
  await assertRefused(f, 'imagefolder', f.projDir, /contains the project file .*p\.qcdb/)
  // The project still opens and reads.
  assert.equal(listSamples(f.db).length, 4)
  f.db.close()
})

test('forced ImageFolder export over an unrelated folder with files is refused', async () => {
  const f = await fixture()
  await assertRefused(f, 'imagefolder', f.unrelated, /neither empty nor a previous seed-qc ImageFolder export/)
  // An unrelated file is no better target for a folder.
  await assertRefused(f, 'imagefolder', join(f.unrelated, 'thesis.tex'), /is a file, not replaced by a folder/)
  f.db.close()
})

test('forced CSV and JSON exports over the project file (and its -wal) are refused; the project stays a database', async () => {
  const f = await fixture()
  await assertRefused(f, 'csv', f.projectFile, /is the project file .*p\.qcdb/)
  await assertRefused(f, 'json', f.projectFile, /is the project file/)
  assert.ok(existsSync(`${f.projectFile}-wal`))
  await assertRefused(f, 'csv', `${f.projectFile}-wal`, /is the project file .*p\.qcdb-wal/)
  // Also reached through a symbolic link to it.
  const alias = join(f.dir, 'alias.csv')
  symlinkSync(f.projectFile, alias)
  await assertRefused(f, 'csv', alias, /is the project file/)
  f.db.close()
  const again = openDb(f.projectFile, { create: false })
  assert.equal(listSamples(again).length, 4)
  again.close()
})

test('forced CSV and JSON exports over a registered sample image are refused (inside the root or linked from it)', async () => {
  const f = await fixture()
  await assertRefused(f, 'csv', join(f.images, 'ok', 'a.png'), /lies inside the image folder/)
  await assertRefused(f, 'json', join(f.images, 'scratch', 'c.png'), /lies inside the image folder/)
  // ok/linked.png is a link: the file it points to, outside the images folder, is a sample too.
  await assertRefused(f, 'csv', f.linkedSample, /is the registered sample image .*linked\.png of this project/)
  await assertRefused(f, 'json', f.linkedSample, /is the registered sample image/)
  await assertRefused(f, 'imagefolder', join(f.dir, 'outside'), /contains the registered sample image/)
  f.db.close()
})

test('a new (not forced) export inside the images folder, or through a link into it, is refused', async () => {
  const f = await fixture()
  await assertRefused(f, 'csv', join(f.images, 'labels.csv'), /lies inside the image folder/, false)
  await assertRefused(f, 'imagefolder', join(f.images, 'clean'), /lies inside the image folder/, false)
  symlinkSync(f.images, join(f.dir, 'shortcut'))
  await assertRefused(f, 'csv', join(f.dir, 'shortcut', 'labels.csv'), /lies inside the image folder/, false)
  await assertRefused(f, 'imagefolder', join(f.dir, 'shortcut'), /is the image folder/)
  f.db.close()
})

test('forced CSV/JSON export over a file that is not an export of ours, or over a folder, is refused', async () => {
  const f = await fixture()
  const notes = join(f.dir, 'notes.csv')
  writeFileSync(notes, 'id,label\n1,ok\n')
  await assertRefused(f, 'csv', notes, /is not a previous seed-qc export/)
  await assertRefused(f, 'json', join(f.unrelated, 'thesis.tex'), /is not a previous seed-qc export/)
  await assertRefused(f, 'csv', f.unrelated, /is a folder, not replaced by a file/)
  // A CSV whose header only starts like ours is not ours either.
  writeFileSync(notes, 'path,given_label,refined_label,confidence,flaggedX\n')
  await assertRefused(f, 'csv', notes, /is not a previous seed-qc export/)
  // An export of ours that someone added a column to is their work now.
  const edited = join(f.dir, 'edited.csv')
  await exportLabels(f.db, { format: 'csv', out: edited })
  const lines = readFileSync(edited, 'utf8').split('\n')
  lines[0] = `${lines[0]!.replace(/\r$/, '')},inspector_note\r`
  writeFileSync(edited, lines.join('\n'))
  await assertRefused(f, 'csv', edited, /has columns seed-qc does not write \(inspector_note\): edited since the export/)
  f.db.close()
})

test('a forced re-export over a previous export of ours replaces it (csv, json, imagefolder)', async () => {
  const f = await fixture()
  const out = join(f.dir, 'exports')
  for (const [format, name] of [
    ['csv', 'labels.csv'],
    ['json', 'labels.json'],
    ['imagefolder', 'clean'],
  ] as const) {
    const target = join(out, name)
    await exportLabels(f.db, { format, out: target })
    const first = statSync(target).ino
    // Without force: refused as before.
    await assert.rejects(exportLabels(f.db, { format, out: target }), /already exists \(use --force to overwrite\)/)
    assert.equal(statSync(target).ino, first)
    const res = await exportLabels(f.db, { format, out: target, force: true })
    assert.equal(res.written, 4)
    assert.notEqual(statSync(target).ino, first, `${format}: replaced by the new export`)
  }
  // A previous CSV export may be replaced by a JSON one and the other way round.
  await exportLabels(f.db, { format: 'json', out: join(out, 'labels.csv'), force: true })
  assert.match(readFileSync(join(out, 'labels.csv'), 'utf8'), /^\{\s*"provenance"/)
  await exportLabels(f.db, { format: 'csv', out: join(out, 'labels.csv'), force: true })
  assert.match(readFileSync(join(out, 'labels.csv'), 'utf8'), /^path,given_label,refined_label,confidence,flagged,/)
  assert.deepEqual(
    readdirSync(out).filter((n) => n.endsWith('.tmp')),
    [],
    'no temp files left',
  )
  f.db.close()
})

test('a previous ImageFolder export with files the user added is not replaced', async () => {
  const f = await fixture()
  const out = join(f.dir, 'clean')
  await exportLabels(f.db, { format: 'imagefolder', out })
  writeFileSync(join(out, 'ok', 'my-notes.txt'), 'mine')
  await assertRefused(f, 'imagefolder', out, /holds entries that export did not write \(ok\/my-notes\.txt\)/)
  // OS litter does not count; the export is replaceable again once the user's file is gone.
  writeFileSync(join(out, '.DS_Store'), 'x')
  const { rmSync } = await import('node:fs')
  rmSync(join(out, 'ok', 'my-notes.txt'))
  await exportLabels(f.db, { format: 'imagefolder', out, force: true })
  assert.deepEqual(readdirSync(out).sort(), ['manifest.csv', 'ok', 'provenance.json', 'scratch'])
  f.db.close()
})

test('a forced export into an empty folder (or over an empty file) works', async () => {
  const f = await fixture()
  const empty = join(f.dir, 'empty')
  mkdirSync(empty)
  const res = await exportLabels(f.db, { format: 'imagefolder', out: empty, force: true })
  assert.equal(res.written, 4)
  assert.deepEqual(readdirSync(empty).sort(), ['manifest.csv', 'ok', 'provenance.json', 'scratch'])
  assert.equal(readdirSync(join(empty, 'ok')).length, 3)
  const blank = join(f.dir, 'blank.csv')
  writeFileSync(blank, '')
  await exportLabels(f.db, { format: 'csv', out: blank, force: true })
  assert.ok(statSync(blank).size > 0)
  f.db.close()
})

test('an export of ours that became a project image folder is protected like any image folder', async () => {
  const f = await fixture()
  const out = join(f.dir, 'clean')
  await exportLabels(f.db, { format: 'imagefolder', out })
  const db2 = openDb(join(f.dir, 'second.qcdb'))
  await importImageFolder(db2, out)
  const before = snapshot(f.dir)
  await assert.rejects(exportLabels(db2, { format: 'imagefolder', out, force: true }), /clean: is the image folder .* of this project/)
  assert.deepEqual(
    snapshot(f.dir).filter((l) => !l.includes('second.qcdb')),
    before.filter((l) => !l.includes('second.qcdb')),
  )
  db2.close()
  f.db.close()
})

// --- import -------------------------------------------------------------------------------------

test('import: a symlink to an ancestor folder imports each file once and records the skip', async () => {
  const dir = tempDir('qc-safety-')
  const root = join(dir, 'data')
  await writeImage(join(root, 'ok', 'a.png'), 1)
  await writeImage(join(root, 'ok', 'deep', 'b.png'), 2)
  await writeImage(join(root, 'scratch', 'c.png'), 3)
  symlinkSync(root, join(root, 'ok', 'loop')) // to the import root
  symlinkSync(join(root, 'ok'), join(root, 'ok', 'deep', 'up')) // to its own class folder
  symlinkSync(join(root, 'scratch'), join(root, 'aaa-alias')) // a second name for a class folder, sorted first
  await writeImage(join(dir, 'elsewhere', 'd.png'), 4)
  symlinkSync(join(dir, 'elsewhere'), join(root, 'scratch', 'more')) // a link out of the tree is still followed
  const db = openDb(join(dir, 'p.qcdb'))
  const s = await importImageFolder(db, root)
  const rows = listSamples(db)
  assert.deepEqual(rows.map((r) => [r.path, r.givenLabel]).sort(), [
    ['ok/a.png', 'ok'],
    ['ok/deep/b.png', 'ok'],
    ['scratch/c.png', 'scratch'],
    ['scratch/more/d.png', 'scratch'],
  ])
  assert.equal(s.added, 4)
  assert.deepEqual(
    listClasses(db).map((c) => c.name),
    ['ok', 'scratch'],
    'no class from the alias',
  )
  const reasons = Object.fromEntries(listSkipped(db, { importId: s.importId }).map((k) => [k.path, k.reason]))
  assert.match(reasons['ok/loop']!, /link to an enclosing folder \(the import root\): a loop/)
  assert.match(reasons['ok/deep/up']!, /link to an enclosing folder \(ok\): a loop/)
  assert.match(reasons['aaa-alias']!, /same folder as scratch/)
  assert.equal(Object.keys(reasons).length, 3)
  // Re-import: still once each.
  const again = await importImageFolder(db, root)
  assert.equal(again.added, 0)
  assert.equal(listSamples(db).length, 4)
  db.close()
})

// --- the project file ---------------------------------------------------------------------------

test('project file: a foreign SQLite file is refused with its bytes unchanged and no WAL files left', () => {
  const dir = tempDir('qc-safety-')
  const plain = join(dir, 'plain.db')
  const a = new Database(plain)
  a.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices (total) VALUES (12.5)')
  a.close()
  // Foreign WAL-mode files: one without a schema version, one with its own (another app's) version.
  const walV0 = join(dir, 'wal0.db')
  const b = new Database(walV0)
  b.pragma('journal_mode = WAL')
  b.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)')
  b.close()
  const walV7 = join(dir, 'wal7.db')
  const c = new Database(walV7)
  c.pragma('journal_mode = WAL')
  c.exec('CREATE TABLE t (x)')
  c.pragma('user_version = 1')
  c.close()
  const before = snapshot(dir)
  assert.deepEqual(readdirSync(dir).sort(), ['plain.db', 'wal0.db', 'wal7.db'])
  for (const f of [plain, walV0, walV7]) {
    for (const opts of [{}, { create: true }, { readonly: true }]) {
      assert.throws(
        () => openDb(f, opts),
        (e: Error) => e.message === `${f}: not a seed-qc project (unknown SQLite database)`,
      )
    }
  }
  assert.deepEqual(snapshot(dir), before, 'bytes unchanged')
  assert.deepEqual(readdirSync(dir).sort(), ['plain.db', 'wal0.db', 'wal7.db'], 'no -wal/-shm created')
  // Still in its own journal mode: the refusal wrote nothing (no WAL switch).
  const d = new Database(plain, { readonly: true })
  assert.equal(d.pragma('journal_mode', { simple: true }), 'delete')
  d.close()
})

test('project file: a newer project is refused before any write', () => {
  const dir = tempDir('qc-safety-')
  const newer = join(dir, 'newer.qcdb')
  const n = new Database(newer)
  n.exec('CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)')
  n.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
  n.close()
  const before = snapshot(dir)
  assert.throws(() => openDb(newer), /newer\.qcdb: project schema v\d+ is newer than this app/)
  assert.deepEqual(snapshot(dir), before)
  assert.deepEqual(readdirSync(dir), ['newer.qcdb'])
})

test('project file: an existing empty file is not initialised unless creating was asked for', () => {
  const dir = tempDir('qc-safety-')
  const empty = join(dir, 'empty.qcdb')
  writeFileSync(empty, '')
  for (const opts of [{}, { create: false }, { readonly: true }]) {
    assert.throws(() => openDb(empty, opts), /empty\.qcdb: an empty file, not a seed-qc project; it is initialised only when creating a new project/)
  }
  assert.equal(statSync(empty).size, 0)
  assert.deepEqual(readdirSync(dir), ['empty.qcdb'])
  // An SQLite database without any table is empty in the same sense.
  const bare = join(dir, 'bare.qcdb')
  const b = new Database(bare)
  b.pragma('user_version = 0')
  b.exec('VACUUM')
  b.close()
  const before = snapshot(dir)
  assert.throws(() => openDb(bare), /bare\.qcdb: an empty SQLite database, not a seed-qc project/)
  assert.deepEqual(snapshot(dir), before)
  // Asked to create: both become projects.
  for (const f of [empty, bare]) {
    const db = openDb(f, { create: true })
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION)
    db.close()
  }
})

test('project file: a new file is created without flags, atomically (no temp files left)', () => {
  const dir = tempDir('qc-safety-')
  const f = join(dir, 'sub', 'new.qcdb')
  const db = openDb(f)
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION)
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal')
  db.close()
  assert.deepEqual(
    readdirSync(join(dir, 'sub')).filter((n) => n.includes('.tmp')),
    [],
  )
  const again = openDb(f)
  assert.ok(listClasses(again))
  again.close()
})
