import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { openDb, listClasses } from '../../../electron/engine/store/db.ts'
import { listSamples, listSkipped, sampleFile } from '../../../electron/engine/store/samples.ts'
import { importImageFolder } from '../../../electron/engine/import/image-folder.ts'
import { tempDir, writeImage, writePixelBomb } from './fixtures.ts'

test('imports root/<class>/<image> with nested folders, Unicode names and every bad case skipped with its reason', async () => {
  const dir = tempDir()
  const root = join(dir, 'data')
  await writeImage(join(root, 'ok', 'a.png'), 1)
  await writeImage(join(root, 'ok', 'line 2', 'b.jpg'), 2)
  await writeImage(join(root, 'scratch', 'c.webp'), 3)
  await writeImage(join(root, 'scratch', 'd.tif'), 4)
  await writeImage(join(root, 'scratch', 'e.bmp'), 5)
  await writeImage(join(root, 'défaut 中文 🙂', 'ïmage 图 🔍.png'), 6)
  writeFileSync(join(root, 'stray.png'), 'x')
  writeFileSync(join(root, 'ok', 'empty.png'), '')
  writeFileSync(join(root, 'ok', 'readme.txt'), 'notes')
  writeFileSync(join(root, 'ok', 'fake.png'), 'not a png')
  writeFileSync(join(root, 'ok', '.DS_Store'), 'x')
  const good = readFileSync(join(root, 'ok', 'a.png'))
  writeFileSync(join(root, 'scratch', 'trunc.png'), good.subarray(0, good.length - 30))
  symlinkSync(join(root, 'nowhere.png'), join(root, 'scratch', 'link.png'))
  await writePixelBomb(join(root, 'scratch', 'bomb.png'))

  const db = openDb(join(dir, 'p.qcdb'))
  const events: number[] = []
  const s = await importImageFolder(db, root, { progress: (e) => events.push(e.done) })
  assert.equal(s.added, 6)
  assert.equal(s.existing, 0)
  assert.deepEqual(s.classes, ['défaut 中文 🙂', 'ok', 'scratch'].sort())
  const reasons = Object.fromEntries(s.skipped.map((k) => [k.path, k.reason]))
  assert.match(reasons['stray.png']!, /not inside a class folder/)
  assert.equal(reasons['ok/empty.png'], 'empty file (0 bytes)')
  assert.equal(reasons['ok/readme.txt'], 'not an image file type (.txt)')
  assert.equal(reasons['ok/fake.png'], 'not an image (unrecognised format)')
  assert.match(reasons['scratch/trunc.png']!, /corrupt or truncated/)
  assert.equal(reasons['scratch/link.png'], 'unreadable: broken symbolic link')
  assert.match(reasons['scratch/bomb.png']!, /pixel bomb/)
  assert.equal(s.skipped.length, 7)
  assert.equal(events.at(-1), 11) // files validated (listing skips are not counted)

  const rows = listSamples(db)
  const byPath = new Map(rows.map((r) => [r.path, r]))
  assert.equal(byPath.get('ok/line 2/b.jpg')?.givenLabel, 'ok')
  const uni = byPath.get('défaut 中文 🙂/ïmage 图 🔍.png')!
  assert.equal(uni.givenLabel, 'défaut 中文 🙂')
  assert.equal(
    uni.hash,
    createHash('sha256')
      .update(readFileSync(sampleFile(uni)!))
      .digest('hex'),
  )
  assert.equal(uni.width, 24)
  assert.ok(rows.every((r) => r.split === 'train'))
  // The skipped rows are kept in the project with the import's id.
  assert.equal(listSkipped(db, { importId: s.importId }).length, 7)
  const imp = db.prepare('SELECT added, skipped, finished_at FROM imports WHERE id = ?').get(s.importId) as {
    added: number
    skipped: number
    finished_at: string | null
  }
  assert.equal(imp.added, 6)
  assert.equal(imp.skipped, 7)
  assert.ok(imp.finished_at)
  db.close()
})

test('re-import adds only new files and reports changed content', async () => {
  const dir = tempDir()
  const root = join(dir, 'data')
  await writeImage(join(root, 'a', '1.png'), 1)
  await writeImage(join(root, 'b', '2.png'), 2)
  const db = openDb(join(dir, 'p.qcdb'))
  const first = await importImageFolder(db, root)
  assert.equal(first.added, 2)
  const id2 = listSamples(db).find((r) => r.path === 'b/2.png')!.id
  await writeImage(join(root, 'a', '3.png'), 3)
  await writeImage(join(root, 'b', '2.png'), 99)
  const again = await importImageFolder(db, root)
  assert.equal(again.added, 1)
  assert.equal(again.existing, 1)
  assert.deepEqual(again.updated, [{ path: 'b/2.png', what: 'content changed' }])
  const after = listSamples(db).find((r) => r.path === 'b/2.png')!
  assert.equal(after.id, id2)
  assert.equal(
    after.hash,
    createHash('sha256')
      .update(readFileSync(join(root, 'b', '2.png')))
      .digest('hex'),
  )
  assert.equal(listSamples(db).length, 3)
  db.close()
})

test('a root with train/ and test/ imports both splits; class idx follows sorted names', async () => {
  const dir = tempDir()
  const root = join(dir, 'data')
  await writeImage(join(root, 'train', 'zeta', '1.png'), 1)
  await writeImage(join(root, 'train', 'alpha', '2.png'), 2)
  await writeImage(join(root, 'test', 'alpha', '3.png'), 3)
  const db = openDb(join(dir, 'p.qcdb'))
  const s = await importImageFolder(db, root)
  assert.equal(s.added, 3)
  assert.deepEqual(
    listClasses(db).map((c) => [c.name, c.idx]),
    [
      ['alpha', 0],
      ['zeta', 1],
    ],
  )
  const rows = listSamples(db)
  assert.deepEqual(rows.map((r) => [r.path, r.split, r.givenLabel]).sort(), [
    ['test/alpha/3.png', 'test', 'alpha'],
    ['train/alpha/2.png', 'train', 'alpha'],
    ['train/zeta/1.png', 'train', 'zeta'],
  ])
  db.close()
})

test('cancel keeps the batches already written; a missing root is a clear error', async () => {
  const dir = tempDir()
  const root = join(dir, 'data')
  for (let i = 0; i < 6; i++) await writeImage(join(root, 'c', `${i}.png`), i)
  const db = openDb(join(dir, 'p.qcdb'))
  const ac = new AbortController()
  await assert.rejects(
    importImageFolder(db, root, { batchSize: 2, signal: ac.signal, progress: (e) => e.done === 2 && ac.abort() }),
    /import cancelled/,
  )
  assert.equal(listSamples(db).length, 2)
  const s = await importImageFolder(db, root)
  assert.equal(s.added, 4)
  assert.equal(s.existing, 2)
  await assert.rejects(importImageFolder(db, join(dir, 'nope')), /nope: no such folder/)
  mkdirSync(join(dir, 'empty'))
  const e = await importImageFolder(db, join(dir, 'empty'))
  assert.equal(e.added, 0)
  db.close()
})
