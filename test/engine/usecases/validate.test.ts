import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openDb } from '../../../electron/engine/store/db.ts'
import { importIntoProject } from '../../../electron/engine/usecases/import.ts'
import { validateWithReport } from '../../../electron/engine/usecases/validate.ts'
import { tempDir, writeEmbeddings } from './helpers.ts'

test('validateWithReport runs the sweep on the test split and writes JSON, CSV and HTML (replacing earlier reports)', async () => {
  const dir = tempDir()
  const db = openDb(join(dir, 'p.qcdb'))
  try {
    const emb = writeEmbeddings(dir, { n: 120, test: 30, noise: 0 })
    await importIntoProject(db, { source: { kind: 'embeddings', npyFile: emb.npy, labelsCsv: emb.csv } })
    const out = join(dir, 'report')
    const phases = new Set<string>()
    const req = { outDir: out, rates: [0.3], seeds: [0], methods: ['teacher' as const], lambda: 0.01 }
    const v = await validateWithReport(db, req, { progress: (p) => phases.add(p.phase) })
    assert.equal(v.result.complete, true)
    assert.equal(v.result.cells.length, 1)
    assert.deepEqual(v.files, { json: join(out, 'validation.json'), csv: join(out, 'validation.csv'), html: join(out, 'report.html') })
    assert.equal((JSON.parse(readFileSync(v.files!.json, 'utf8')) as { cells: unknown[] }).cells.length, 1)
    assert.match(readFileSync(v.files!.html, 'utf8'), /<html/i)
    assert.ok(readFileSync(v.files!.csv, 'utf8').split('\n').length >= 2)
    assert.ok(phases.size > 0)
    // Stored in the project, and a second sweep replaces the files.
    writeFileSync(v.files!.csv, 'old')
    const again = await validateWithReport(db, req)
    assert.notEqual(again.validationId, v.validationId)
    assert.notEqual(readFileSync(v.files!.csv, 'utf8'), 'old')
    // Without an output folder nothing is written.
    assert.equal((await validateWithReport(db, { ...req, outDir: undefined })).files, null)
  } finally {
    db.close()
  }
})
