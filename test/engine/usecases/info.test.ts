import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openDb } from '../../../electron/engine/store/db.ts'
import { backboneChoices, projectInfo } from '../../../electron/engine/usecases/info.ts'
import { importIntoProject } from '../../../electron/engine/usecases/import.ts'
import { refine } from '../../../electron/engine/usecases/refine.ts'
import { NAMES, tempDir, writeEmbeddings } from './helpers.ts'

test('projectInfo counts samples, splits, classes, feature vectors, runs and skipped files', async () => {
  const dir = tempDir()
  const db = openDb(join(dir, 'p.qcdb'))
  try {
    const empty = projectInfo(db, 'p.qcdb')
    assert.deepEqual(
      { ...empty },
      { project: 'p.qcdb', samples: 0, train: 0, test: 0, trusted: 0, reviewEvents: 0, classes: [], backbones: [], runs: [], skipped: [] },
    )
    const emb = writeEmbeddings(dir, { n: 45, test: 9 })
    const imp = await importIntoProject(db, { source: { kind: 'embeddings', npyFile: emb.npy, labelsCsv: emb.csv, backbone: 'space' } })
    const csv = join(dir, 'm.csv')
    writeFileSync(csv, 'path,label\nok.png,ok\nmissing.png,ok\n')
    writeFileSync(join(dir, 'ok.png'), 'not a png')
    await assert.rejects(importIntoProject(db, { source: { kind: 'csv', csvFile: csv } }), /nothing could be imported/)
    const run = await refine(db, { method: 'teacher', lambda: 0.01 })

    const info = projectInfo(db, join(dir, 'p.qcdb'))
    assert.deepEqual([info.samples, info.train, info.test, info.trusted, info.reviewEvents], [45, 36, 9, 0, 0])
    const counts = new Map<string, number>()
    emb.given.forEach((g) => counts.set(NAMES[g]!, (counts.get(NAMES[g]!) ?? 0) + 1))
    assert.deepEqual(
      info.classes.map((c) => c.idx),
      info.classes.map((_, i) => i),
      'in model (idx) order',
    )
    assert.deepEqual(new Map(info.classes.map((c) => [c.name, c.n])), counts)
    assert.deepEqual(info.backbones, [
      { id: imp.backboneId, name: 'space', kind: 'embeddings', dim: 6, features: 45, featureTensor: null, featureLayer: null },
    ])
    assert.equal(info.runs.length, 1)
    assert.deepEqual([info.runs[0]!.id, info.runs[0]!.method, info.runs[0]!.status], [run.runId, 'teacher', 'done'])
    assert.equal(typeof info.runs[0]!.metrics, 'object')
    assert.deepEqual(
      info.skipped.map((s) => s.path),
      ['ok.png', 'missing.png'],
    )
    assert.deepEqual(backboneChoices(db).registered, info.backbones)
    assert.equal(backboneChoices().builtin, 'builtin')
    assert.ok(backboneChoices().catalogue.length > 0)
  } finally {
    db.close()
  }
})
