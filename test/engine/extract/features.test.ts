import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDb, ensureClass, now, vecToBlob } from '../../../electron/engine/store/db.ts'
import { loadFeatureMatrix } from '../../../electron/engine/extract/features.ts'
import { sampleFeaturesBound } from '../../../electron/engine/store/features.ts'

test('loadFeatureMatrix: samples.id order, shared hashes fanned out, labels as class idx, filters', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-feat-'))
  try {
    const db = openDb(join(dir, 'p.qcdb'))
    const t = now()
    const src = Number(db.prepare("INSERT INTO sources (kind, root, added_at) VALUES ('images', ?, ?)").run(dir, t).lastInsertRowid)
    const [a, b] = db.transaction(() => [ensureClass(db, 'ok'), ensureClass(db, 'scratch')])()
    const bb = Number(db.prepare("INSERT INTO backbones (name, kind, dim, created_at) VALUES ('t', 'file', 3, ?)").run(t).lastInsertRowid)
    const ins = db.prepare(
      'INSERT INTO samples (source_id, path, hash, split, given_class_id, trusted_class_id, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    )
    ins.run(src, 'x1.png', 'h1', 'train', b, null, t) // id 1
    ins.run(src, 'x2.png', 'h2', 'test', a, a, t) // id 2
    ins.run(src, 'x3.png', 'h1', 'train', null, b, t) // id 3 same content as 1
    ins.run(src, 'x4.png', 'h4', 'train', a, null, t) // id 4 no features
    const f = db.prepare('INSERT INTO features (hash, backbone_id, vec) VALUES (?, ?, ?)')
    f.run('h1', bb, vecToBlob(Float32Array.from([1, 2, 3])))
    f.run('h2', bb, vecToBlob(Float32Array.from([4, 5, 6])))

    const all = loadFeatureMatrix(db, bb)
    assert.equal(all.x.n, 3)
    assert.equal(all.x.d, 3)
    assert.deepEqual([...all.sampleIds], [1, 2, 3])
    assert.deepEqual([...all.x.data], [1, 2, 3, 4, 5, 6, 1, 2, 3])
    assert.deepEqual([...all.given], [1, 0, -1])
    assert.deepEqual([...all.trusted], [-1, 0, 1])

    const train = loadFeatureMatrix(db, bb, { split: 'train' })
    assert.deepEqual([...train.sampleIds], [1, 3])
    // Sized by the samples (x4 has no features): the arrays still come back at their exact length.
    assert.equal(sampleFeaturesBound(db, { split: 'train' }), 3)
    assert.deepEqual([train.x.data.length, train.given.length, train.trusted.length], [6, 2, 2])
    const test = loadFeatureMatrix(db, bb, { split: 'test' })
    assert.equal(sampleFeaturesBound(db, { split: 'test' }), 1)
    assert.deepEqual([...test.x.data], [4, 5, 6])
    const some = loadFeatureMatrix(db, bb, { sampleIds: [4, 3, 2] })
    assert.deepEqual([...some.sampleIds], [2, 3])
    assert.deepEqual([...some.x.data], [4, 5, 6, 1, 2, 3])
    assert.equal(some.given.length, 2)
    assert.throws(() => loadFeatureMatrix(db, 99), /no backbone with id 99/)
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
