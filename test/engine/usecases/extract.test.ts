import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDb } from '../../../electron/engine/store/db.ts'
import { extractProjectFeatures } from '../../../electron/engine/usecases/extract.ts'
import { importIntoProject } from '../../../electron/engine/usecases/import.ts'
import { writeImage } from '../import/fixtures.ts'
import { tempDir, writeEmbeddings } from './helpers.ts'

// The built-in model is written here instead of the repository's resources/ folder.
process.env.QC_RESOURCES = mkdtempSync(join(tmpdir(), 'qc-res-'))

test('a project with its own embeddings has nothing to extract; a named embeddings space is found by name', async () => {
  const dir = tempDir()
  const db = openDb(join(dir, 'p.qcdb'))
  try {
    const emb = writeEmbeddings(dir, { n: 12 })
    const imp = await importIntoProject(db, { source: { kind: 'embeddings', npyFile: emb.npy, labelsCsv: emb.csv, backbone: 'clip' } })
    const e = await extractProjectFeatures(db)
    assert.equal(e.ownEmbeddings, true)
    assert.equal(e.backboneId, imp.backboneId)
    assert.equal(e.backbone, 'clip')
    assert.deepEqual([e.summary.computed, e.summary.reused], [0, 0])
    assert.equal((await extractProjectFeatures(db, { backbone: 'clip' })).backboneId, imp.backboneId)
  } finally {
    db.close()
  }
})

test('images get features from the built-in backbone by default; a second call reuses them', async () => {
  const dir = tempDir()
  const db = openDb(join(dir, 'p.qcdb'))
  try {
    const root = join(dir, 'images')
    for (let i = 0; i < 4; i++) await writeImage(join(root, i % 2 ? 'ok' : 'dent', `${i}.png`), i)
    await importIntoProject(db, { source: { kind: 'folder', root } })
    const phases = new Set<string>()
    const first = await extractProjectFeatures(db, { batchSize: 2 }, { progress: (p) => phases.add(p.phase) })
    assert.equal(first.ownEmbeddings, false)
    assert.equal(first.backbone, 'builtin')
    assert.deepEqual([first.summary.computed, first.summary.reused, first.summary.failed.length], [4, 0, 0])
    assert.ok(phases.has('extract'))
    const second = await extractProjectFeatures(db, { backbone: 'builtin' })
    assert.equal(second.backboneId, first.backboneId)
    assert.deepEqual([second.summary.computed, second.summary.reused], [0, 4])
  } finally {
    db.close()
  }
})
