import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensureClass, openDb } from '../../../electron/engine/store/db.ts'
import {
  countSamples,
  ensureSource,
  findSample,
  getSample,
  insertSample,
  listSamples,
  listSources,
  sampleFileById,
} from '../../../electron/engine/store/samples.ts'

test('sample queries: filters, paging, labels by name and idx, files only for image samples', () => {
  const db = openDb(join(mkdtempSync(join(tmpdir(), 'qc-samples-')), 'p.qcdb'))
  const ok = ensureClass(db, 'ok')
  const dent = ensureClass(db, 'dent')
  const img = ensureSource(db, 'images', '/data/imgs')
  assert.equal(ensureSource(db, 'images', '/data/imgs'), img)
  const emb = ensureSource(db, 'embeddings', '/data/x.npy')
  const a = insertSample(db, { sourceId: img, path: 'ok/a b.png', hash: 'h1', size: 10, width: 4, height: 3, split: 'train', givenClassId: ok })
  const b = insertSample(db, { sourceId: img, path: 'dent/b.png', hash: 'h2', size: 11, split: 'test', givenClassId: dent, trustedClassId: ok })
  const c = insertSample(db, { sourceId: emb, path: 'row-7', hash: 'h3', size: 0, split: 'train', givenClassId: null })
  assert.deepEqual(
    listSources(db).map((s) => s.kind),
    ['images', 'embeddings'],
  )
  assert.deepEqual(
    listSamples(db).map((s) => s.id),
    [a, b, c],
  )
  assert.deepEqual(
    listSamples(db, { split: 'train' }).map((s) => s.id),
    [a, c],
  )
  assert.deepEqual(
    listSamples(db, { givenIdx: 1 }).map((s) => s.id),
    [b],
  )
  assert.deepEqual(
    listSamples(db, { limit: 1, offset: 1 }).map((s) => s.id),
    [b],
  )
  assert.deepEqual(
    listSamples(db, { ids: [c, 999] }).map((s) => s.id),
    [c],
  )
  assert.equal(countSamples(db, { split: 'train' }), 2)
  assert.equal(countSamples(db, { givenIdx: 0 }), 1)
  const sb = getSample(db, b)!
  assert.deepEqual([sb.givenLabel, sb.givenIdx, sb.trustedLabel, sb.trustedIdx, sb.split, sb.sourceRoot], ['dent', 1, 'ok', 0, 'test', '/data/imgs'])
  assert.equal(getSample(db, c)!.givenLabel, null)
  assert.equal(findSample(db, img, 'ok/a b.png')?.id, a)
  assert.equal(sampleFileById(db, a), join('/data/imgs', 'ok', 'a b.png'))
  assert.equal(sampleFileById(db, c), undefined, 'embeddings rows name no file')
  assert.equal(sampleFileById(db, 12345), undefined)
  assert.throws(() => insertSample(db, { sourceId: img, path: 'ok/a b.png', hash: 'x', size: 1, split: 'train', givenClassId: ok }), /UNIQUE/)
  db.close()
})
