import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openDb } from '../../../electron/engine/store/db.ts'
import { countReasons, importIntoProject, NothingImportedError } from '../../../electron/engine/usecases/import.ts'
import { writeImage } from '../import/fixtures.ts'
import { tempDir, writeEmbeddings } from './helpers.ts'

test('importIntoProject takes each kind of source and says what it added, found and skipped', async () => {
  const dir = tempDir()
  const db = openDb(join(dir, 'p.qcdb'))
  try {
    // Own embeddings: every row added, under one feature space; again: all already there.
    const emb = writeEmbeddings(dir, { n: 30 })
    const first = await importIntoProject(db, { source: { kind: 'embeddings', npyFile: emb.npy, labelsCsv: emb.csv, backbone: 'mine' } })
    assert.equal(first.added, 30)
    assert.equal(typeof first.backboneId, 'number')
    assert.deepEqual(first.skippedReasons, [])
    const again = await importIntoProject(db, { source: { kind: 'embeddings', npyFile: emb.npy, labelsCsv: emb.csv, backbone: 'mine' } })
    assert.deepEqual([again.added, again.existing], [0, 30])

    // An image folder with one file that is not an image: imported, and the skip has its reason.
    const root = join(dir, 'images')
    await writeImage(join(root, 'ok', 'a.png'), 1)
    await writeImage(join(root, 'dent', 'b.png'), 2)
    writeFileSync(join(root, 'ok', 'notes.txt'), 'x')
    const folder = await importIntoProject(db, { source: { kind: 'folder', root }, split: 'test' })
    assert.equal(folder.added, 2)
    assert.deepEqual(folder.skippedReasons, [{ reason: 'not an image file type (.txt)', count: 1 }])

    // A manifest resolved against an images folder.
    const csv = join(dir, 'manifest.csv')
    writeFileSync(csv, 'path,label\nok/a.png,ok\ndent/b.png,ok\n')
    const manifest = await importIntoProject(db, { source: { kind: 'csv', csvFile: csv, imagesRoot: root } })
    assert.equal(manifest.added + manifest.existing + manifest.updated.length, 2)
  } finally {
    db.close()
  }
})

test('an import whose entries are all skipped fails with the summary attached', async () => {
  const dir = tempDir()
  const db = openDb(join(dir, 'p.qcdb'))
  try {
    const csv = join(dir, 'manifest.csv')
    writeFileSync(csv, 'path,label\nmissing-1.png,ok\nmissing-2.png,ok\nmissing-3.png,dent\n')
    await assert.rejects(importIntoProject(db, { source: { kind: 'csv', csvFile: csv } }), (e: unknown) => {
      assert.ok(e instanceof NothingImportedError)
      assert.match(e.message, /^nothing could be imported: all 3 entries were skipped \(first: missing-1\.png: /)
      assert.equal(e.outcome.skipped.length, 3)
      assert.equal(
        e.outcome.skippedReasons.reduce((a, r) => a + r.count, 0),
        3,
      )
      return true
    })
  } finally {
    db.close()
  }
})

test('countReasons counts skips per reason, commonest first', () => {
  const skipped = ['b', 'a', 'b', 'c', 'b', 'a'].map((reason, i) => ({ path: `f${i}`, reason }))
  assert.deepEqual(countReasons(skipped), [
    { reason: 'b', count: 3 },
    { reason: 'a', count: 2 },
    { reason: 'c', count: 1 },
  ])
  assert.deepEqual(countReasons([]), [])
})
