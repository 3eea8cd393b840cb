import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { openDb } from '../../../electron/engine/store/db.ts'
import { exportProject } from '../../../electron/engine/usecases/export.ts'
import { importIntoProject } from '../../../electron/engine/usecases/import.ts'
import { refine } from '../../../electron/engine/usecases/refine.ts'
import { tempDir, writeEmbeddings } from './helpers.ts'

test('exportProject writes the chosen run as CSV with the stable header, and refuses to overwrite without force', async () => {
  const dir = tempDir()
  const db = openDb(join(dir, 'p.qcdb'))
  try {
    const emb = writeEmbeddings(dir, { n: 60 })
    await importIntoProject(db, { source: { kind: 'embeddings', npyFile: emb.npy, labelsCsv: emb.csv } })
    const run = await refine(db, { method: 'teacher', lambda: 0.01 })
    const out = join(dir, 'labels.csv')
    const res = await exportProject(db, { format: 'csv', out, runId: run.runId })
    assert.deepEqual([res.format, res.runId, res.written, res.out], ['csv', run.runId, 60, out])
    const lines = readFileSync(out, 'utf8').trim().split('\n')
    assert.match(lines[0]!, /^path,given_label,refined_label,confidence,flagged/)
    assert.equal(lines.length, 61)
    await assert.rejects(exportProject(db, { format: 'csv', out }), /already exists/)
    const json = await exportProject(db, { format: 'json', out: join(dir, 'labels.json') })
    assert.equal(json.runId, run.runId, 'default: the latest finished run')
    const forced = await exportProject(db, { format: 'csv', out, force: true, onlyReviewed: true })
    assert.equal(forced.written, 0, 'nothing reviewed yet')
  } finally {
    db.close()
  }
})
