import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runPipeline, type PipelineStep } from '../../../electron/engine/usecases/pipeline.ts'
import { tempDir, writeEmbeddings } from './helpers.ts'

test('runPipeline imports, uses the own embeddings, refines and writes refined.csv, reporting each step as it ends', async () => {
  const dir = tempDir()
  const emb = writeEmbeddings(dir, { n: 90, noise: 0.2 })
  const steps: PipelineStep['step'][] = []
  const out = join(dir, 'out')
  const p = await runPipeline(
    { outDir: out, source: { kind: 'embeddings', npyFile: emb.npy, labelsCsv: emb.csv }, refine: { method: 'teacher', lambda: 0.01 } },
    { onStep: (s) => steps.push(s.step) },
  )
  assert.deepEqual(steps, ['imported', 'extracted', 'refined', 'exported'])
  assert.equal(p.project, join(out, 'project.qcdb'))
  assert.ok(existsSync(p.project))
  assert.equal(p.imported.added, 90)
  assert.equal(p.extracted.ownEmbeddings, true)
  assert.equal(p.refined.method, 'teacher')
  assert.equal(p.exported.runId, p.refined.runId)
  const lines = readFileSync(p.refinedCsv, 'utf8').trim().split('\n')
  assert.match(lines[0]!, /^path,given_label,refined_label,confidence,flagged/)
  assert.equal(lines.length, 91)
  // Again on the same folder: nothing new imported, a second run, refined.csv replaced.
  const again = await runPipeline({
    outDir: out,
    source: { kind: 'embeddings', npyFile: emb.npy, labelsCsv: emb.csv },
    refine: { method: 'teacher', lambda: 0.01 },
  })
  assert.deepEqual([again.imported.added, again.imported.existing], [0, 90])
  assert.notEqual(again.refined.runId, p.refined.runId)
})

test('runPipeline refuses a refined.csv it did not write before it imports anything', async () => {
  const dir = tempDir()
  const emb = writeEmbeddings(dir, { n: 30, noise: 0.2 })
  const out = join(dir, 'out')
  mkdirSync(out)
  writeFileSync(join(out, 'refined.csv'), 'my notes, not an export\n')
  const steps: string[] = []
  await assert.rejects(
    runPipeline(
      { outDir: out, source: { kind: 'embeddings', npyFile: emb.npy, labelsCsv: emb.csv }, refine: { method: 'teacher', lambda: 0.01 } },
      { onStep: (s) => steps.push(s.step) },
    ),
    /refined\.csv: .*not replaced|refined\.csv: .*not a previous/,
  )
  assert.deepEqual(steps, [], 'nothing ran')
  assert.equal(existsSync(join(out, 'project.qcdb')), false, 'no project created')
  assert.equal(readFileSync(join(out, 'refined.csv'), 'utf8'), 'my notes, not an export\n')
})
