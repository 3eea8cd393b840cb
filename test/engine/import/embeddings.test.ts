import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { blobToVec, openDb } from '../../../electron/engine/store/db.ts'
import { listSamples } from '../../../electron/engine/store/samples.ts'
import { importEmbeddings } from '../../../electron/engine/import/embeddings.ts'
import { writeNpy } from '../../../electron/engine/util/npy.ts'
import { tempDir } from './fixtures.ts'

test('stores N x D features under an embeddings backbone, keyed by sha256 of the float32 row', async () => {
  const dir = tempDir()
  const npy = join(dir, 'feats.npy')
  const x = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, NaN, 1, 2, 3])
  writeNpy(npy, x, [4, 3])
  const csv = join(dir, 'labels.csv')
  writeFileSync(csv, 'id,label,split\nr0,cat,train\nr1,dog,test\nr2,cat,\nr3,dog,train\n')
  const db = openDb(join(dir, 'p.qcdb'))
  const s = await importEmbeddings(db, npy, csv)
  assert.equal(s.added, 3)
  assert.equal(s.dim, 3)
  assert.deepEqual(s.skipped, [{ path: 'r2', reason: 'row 2 of feats.npy has NaN or infinite values' }])
  const bb = db.prepare('SELECT name, kind, dim FROM backbones WHERE id = ?').get(s.backboneId)
  assert.deepEqual({ ...(bb as object) }, { name: 'embeddings:feats.npy', kind: 'embeddings', dim: 3 })
  const rows = listSamples(db)
  assert.deepEqual(
    rows.map((r) => [r.path, r.givenLabel, r.split, r.sourceKind]),
    [
      ['r0', 'cat', 'train', 'embeddings'],
      ['r1', 'dog', 'test', 'embeddings'],
      ['r3', 'dog', 'train', 'embeddings'],
    ],
  )
  const r1 = rows[1]!
  const expected = createHash('sha256')
    .update(Buffer.from(Float32Array.from([4, 5, 6]).buffer))
    .digest('hex')
  assert.equal(r1.hash, expected)
  const f = db.prepare('SELECT vec FROM features WHERE hash = ? AND backbone_id = ?').get(expected, s.backboneId) as { vec: Buffer }
  assert.deepEqual([...blobToVec(f.vec)], [4, 5, 6])
  // Re-import: nothing new.
  const again = await importEmbeddings(db, npy, csv)
  assert.equal(again.added, 0)
  assert.equal(again.existing, 3)
  assert.equal(again.backboneId, s.backboneId)
  db.close()
})

test('path,label CSV with float64 data; row count mismatch names both files and counts', async () => {
  const dir = tempDir()
  const npy = join(dir, 'f64.npy')
  // Hand-made float64 .npy (2 x 2).
  const header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }\n"
  const body = Buffer.alloc(32)
  ;[0.5, 1.5, 2.5, 3.5].forEach((v, i) => body.writeDoubleLE(v, i * 8))
  const len = Buffer.alloc(2)
  len.writeUInt16LE(header.length)
  writeFileSync(npy, Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]), len, Buffer.from(header), body]))
  const csv = join(dir, 'l.csv')
  writeFileSync(csv, 'path,label\nimg/a.png,ok\nimg/b.png,dent\n')
  const db = openDb(join(dir, 'p.qcdb'))
  const s = await importEmbeddings(db, npy, csv)
  assert.equal(s.added, 2)
  assert.deepEqual(
    listSamples(db).map((r) => r.path),
    ['img/a.png', 'img/b.png'],
  )
  writeFileSync(csv, 'path,label\nimg/a.png,ok\n')
  await assert.rejects(importEmbeddings(db, npy, csv), (e: Error) => {
    assert.match(e.message, /f64\.npy has 2 rows/)
    assert.match(e.message, /l\.csv has 1 label rows/)
    return true
  })
  writeFileSync(csv, 'name,label\na,ok\nb,ok\n')
  await assert.rejects(importEmbeddings(db, npy, csv), /l\.csv:1: needs an id or path column/)
  writeFileSync(join(dir, 'bad.npy'), 'garbage')
  await assert.rejects(importEmbeddings(db, join(dir, 'bad.npy'), csv), /bad\.npy: not a \.npy file/)
  db.close()
})
