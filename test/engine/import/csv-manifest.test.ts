import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openDb } from '../../../electron/engine/store/db.ts'
import { listSamples, listSources, sampleFile } from '../../../electron/engine/store/samples.ts'
import { importCsv } from '../../../electron/engine/import/csv-manifest.ts'
import { tempDir, writeImage } from './fixtures.ts'

test('resolves paths against the CSV folder, reads split and trusted_label, skips bad rows', async () => {
  const dir = tempDir()
  await writeImage(join(dir, 'imgs', 'a.png'), 1)
  await writeImage(join(dir, 'imgs', 'sub', 'b, "quoted".png'), 2)
  await writeImage(join(dir, 'imgs', 'c.png'), 3)
  await writeImage(join(dir, 'imgs', 'd.png'), 4)
  const csv = join(dir, 'labels.csv')
  writeFileSync(
    csv,
    '\ufeffsplit,Path,label,trusted_label,extra\r\n' +
      'train,imgs/a.png,scratch,,x\r\n' +
      'test,"imgs/sub/b, ""quoted"".png",ok,ok,\r\n' +
      ',imgs/c.png,dent,scratch,\r\n' +
      'holdout,imgs/d.png,ok,,\r\n' +
      'train,imgs/a.png,ok,,\r\n' +
      'train,imgs/missing.png,ok,,\r\n' +
      'train,,ok,,\r\n',
  )
  const db = openDb(join(dir, 'p.qcdb'))
  const s = await importCsv(db, csv, { split: 'train' })
  assert.equal(s.added, 3)
  assert.deepEqual(s.classes, ['dent', 'ok', 'scratch'])
  const reasons = s.skipped.map((k) => `${k.path}: ${k.reason}`).sort()
  assert.deepEqual(reasons, [
    'imgs/a.png: line 6: duplicate of line 2',
    "imgs/d.png: line 5: split must be train or test, got 'holdout'",
    'imgs/missing.png: unreadable: file not found',
    'labels.csv:8: line 8: empty path',
  ])
  const rows = new Map(listSamples(db).map((r) => [r.path, r]))
  assert.equal(rows.get('imgs/a.png')?.givenLabel, 'scratch')
  const b = rows.get('imgs/sub/b, "quoted".png')!
  assert.deepEqual([b.split, b.givenLabel, b.trustedLabel], ['test', 'ok', 'ok'])
  assert.deepEqual([rows.get('imgs/c.png')?.split, rows.get('imgs/c.png')?.trustedLabel], ['train', 'scratch'])
  assert.equal(listSources(db)[0]!.root, dir)
  db.close()
})

test('imagesRoot, absolute paths, files outside the root, re-import with changed labels', async () => {
  const dir = tempDir()
  const root = join(dir, 'images')
  await writeImage(join(root, 'x', '1.png'), 1)
  await writeImage(join(dir, 'elsewhere', '2.png'), 2)
  mkdirSync(join(dir, 'meta'))
  const csv = join(dir, 'meta', 'm.csv')
  writeFileSync(csv, `path,label\nx/1.png,ok\n${join(dir, 'elsewhere', '2.png')},dent\n`)
  const db = openDb(join(dir, 'p.qcdb'))
  const s = await importCsv(db, csv, { imagesRoot: root })
  assert.equal(s.added, 2)
  assert.match(s.notes[0]!, /1 file\(s\) lie outside/)
  const rows = listSamples(db)
  // Every sample still resolves to its file.
  assert.deepEqual(rows.map((r) => sampleFile(r)).sort(), [join(dir, 'elsewhere', '2.png'), join(root, 'x', '1.png')].sort())
  writeFileSync(csv, `path,label\nx/1.png,scratch\n${join(dir, 'elsewhere', '2.png')},dent\n`)
  const again = await importCsv(db, csv, { imagesRoot: root })
  assert.equal(again.added, 0)
  assert.equal(again.existing, 1)
  assert.deepEqual(again.updated, [{ path: 'x/1.png', what: 'label changed (ok -> scratch)' }])
  assert.equal(listSamples(db).find((r) => r.path === 'x/1.png')?.givenLabel, 'scratch')
  await assert.rejects(importCsv(db, csv, { imagesRoot: join(dir, 'nope') }), /nope: images folder not found/)
  db.close()
})

test('a CSV without the required columns is refused naming the file', async () => {
  const dir = tempDir()
  const csv = join(dir, 'bad.csv')
  writeFileSync(csv, 'file,class\na.png,ok\n')
  const db = openDb(join(dir, 'p.qcdb'))
  await assert.rejects(importCsv(db, csv), /bad\.csv:1: missing columns path, label/)
  writeFileSync(csv, 'path,label\n"a.png,ok\n')
  await assert.rejects(importCsv(db, csv), /bad\.csv:2: unterminated quoted field/)
  db.close()
})

test('a label spelled in NFD and in NFC is one class', async () => {
  const dir = tempDir()
  await writeImage(join(dir, 'a.png'), 1)
  await writeImage(join(dir, 'b.png'), 2)
  const csv = join(dir, 'l.csv')
  writeFileSync(csv, `path,label\na.png,${'défaut'.normalize('NFD')}\nb.png,${'défaut'.normalize('NFC')}\n`)
  const db = openDb(join(dir, 'p.qcdb'))
  const s = await importCsv(db, csv)
  assert.deepEqual(s.classes, ['défaut'])
  db.close()
})

test('a re-import never clears what its source does not state: trusted labels, splits and labels stay; what changed is reported', async () => {
  const dir = tempDir()
  const root = join(dir, 'images')
  for (let i = 1; i <= 3; i++) await writeImage(join(root, `${i}.png`), i)
  const csv = join(dir, 'audited.csv')
  writeFileSync(csv, 'path,label,split,trusted_label\n1.png,ok,train,scratch\n2.png,dent,test,dent\n3.png,ok,train,\n')
  const db = openDb(join(dir, 'p.qcdb'))
  try {
    await importCsv(db, csv, { imagesRoot: root })
    const state = () => Object.fromEntries(listSamples(db).map((r) => [r.path, `${r.givenLabel ?? '-'}/${r.trustedLabel ?? '-'}/${r.split}`]))
    const before = state()
    assert.deepEqual(before, { '1.png': 'ok/scratch/train', '2.png': 'dent/dent/test', '3.png': 'ok/-/train' })
    // The plain labels file (no split, no trusted_label column; an empty label) changes nothing.
    const plain = join(dir, 'labels.csv')
    writeFileSync(plain, 'path,label\n1.png,ok\n2.png,dent\n3.png,\n')
    const again = await importCsv(db, plain, { imagesRoot: root })
    assert.deepEqual(again.updated, [])
    assert.equal(again.existing, 3)
    assert.deepEqual(state(), before)
    // --split names the split of new samples only, and the summary says so when it differs.
    const withSplit = await importCsv(db, plain, { imagesRoot: root, split: 'test' })
    assert.deepEqual(state(), before)
    assert.ok(
      withSplit.notes.some((n) => n.startsWith('2 sample(s) already in the project kept their split: --split applies to new samples only')),
      withSplit.notes.join('; '),
    )
    // What a file does state is applied and reported, old -> new.
    writeFileSync(plain, 'path,label,split,trusted_label\n1.png,crack,,\n2.png,dent,train,ok\n')
    const changed = await importCsv(db, plain, { imagesRoot: root })
    assert.deepEqual(changed.updated, [
      { path: '1.png', what: 'label changed (ok -> crack)' },
      { path: '2.png', what: 'trusted label changed (dent -> ok), split changed (test -> train)' },
    ])
    assert.deepEqual(state(), { '1.png': 'crack/scratch/train', '2.png': 'dent/ok/train', '3.png': 'ok/-/train' })
  } finally {
    db.close()
  }
})

test('a validation split is imported as test, and the summary says so', async () => {
  const dir = tempDir()
  for (let i = 1; i <= 3; i++) await writeImage(join(dir, `${i}.png`), i)
  const csv = join(dir, 'm.csv')
  writeFileSync(csv, 'path,label,split\n1.png,ok,train\n2.png,ok,val\n3.png,dent,Validation\n')
  const db = openDb(join(dir, 'p.qcdb'))
  try {
    const s = await importCsv(db, csv)
    assert.equal(s.added, 3)
    assert.deepEqual(
      listSamples(db).map((r) => r.split),
      ['train', 'test', 'test'],
    )
    assert.ok(
      s.notes.some((n) => /^2 row\(s\) with split val\/valid\/validation were imported as test/.test(n)),
      s.notes.join('; '),
    )
  } finally {
    db.close()
  }
})
