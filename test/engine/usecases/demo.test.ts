import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openDb } from '../../../electron/engine/store/db.ts'
import { runLabels } from '../../../electron/engine/store/runs.ts'
import { demoFolderState, runDemo } from '../../../electron/engine/usecases/demo.ts'
import { tempDir } from './helpers.ts'

// A small demo (60 images) keeps the test short; the pipeline is the one `qc demo` runs.
const OPTS = { perClass: 12, compare: false }

test('a cancelled demo is finished by running it again into the same folder: same labels as a demo run in one go', async () => {
  const dir = tempDir('qc-demo-')
  const once = join(dir, 'once')
  const twice = join(dir, 'twice')
  const whole = await runDemo(once, OPTS)

  // Cancel during feature extraction, with some images extracted.
  const ac = new AbortController()
  await assert.rejects(
    runDemo(twice, OPTS, {
      signal: ac.signal,
      progress: (p) => {
        if (p.phase === 'extract' && p.done > 0) ac.abort()
      },
    }),
    /cancelled/,
  )
  assert.equal(demoFolderState(twice), 'unfinished')
  // Other settings do not finish it (and the folder is not theirs to use).
  await assert.rejects(runDemo(twice, { ...OPTS, seed: 5 }), /unfinished demo made with other settings/)
  assert.equal(demoFolderState(twice, { ...OPTS, seed: 5 }), 'other')
  assert.equal(demoFolderState(twice, OPTS), 'unfinished')
  const resumed = await runDemo(twice, OPTS)
  assert.equal(demoFolderState(twice), 'finished')
  assert.equal(resumed.samples, whole.samples)
  assert.equal(resumed.chosenMethod, whole.chosenMethod)
  assert.equal(resumed.chosenAccuracy, whole.chosenAccuracy)
  const labels = (project: string, runId: number) => {
    const db = openDb(project)
    try {
      return [...runLabels(db, runId).values()]
    } finally {
      db.close()
    }
  }
  assert.deepEqual(labels(resumed.project, resumed.runId), labels(whole.project, whole.runId))
  assert.equal(readFileSync(resumed.refinedCsv!, 'utf8'), readFileSync(whole.refinedCsv!, 'utf8'))
})

test('a demo never writes into a folder holding anything but its own unfinished demo', async () => {
  const dir = tempDir('qc-demo-')
  // A folder with someone's files: refused, untouched.
  const theirs = join(dir, 'theirs')
  mkdirSync(join(theirs, 'data'), { recursive: true })
  writeFileSync(join(theirs, 'data', 'labels.csv'), 'path,label\nline3/0001.png,ok\n')
  assert.equal(demoFolderState(theirs), 'other')
  await assert.rejects(runDemo(theirs, OPTS), /theirs is not empty and holds no seed-qc demo/)
  assert.deepEqual(readdirSync(theirs), ['data'])
  assert.equal(readFileSync(join(theirs, 'data', 'labels.csv'), 'utf8'), 'path,label\nline3/0001.png,ok\n')
  // A project that is not a demo: refused.
  const project = join(dir, 'project')
  mkdirSync(project)
  openDb(join(project, 'project.qcdb'), { create: true }).close()
  await assert.rejects(runDemo(project, OPTS), /is a project that is not a demo/)
  // A finished demo (its project may hold review work): refused, not redone.
  const done = join(dir, 'done')
  await runDemo(done, OPTS)
  const before = readFileSync(join(done, 'refined.csv'), 'utf8')
  await assert.rejects(runDemo(done, OPTS), /holds a finished demo/)
  assert.equal(readFileSync(join(done, 'refined.csv'), 'utf8'), before)
  // A file where the folder should be.
  writeFileSync(join(dir, 'afile'), 'x')
  assert.equal(demoFolderState(join(dir, 'afile')), 'other')
  await assert.rejects(runDemo(join(dir, 'afile'), OPTS), /afile is a file, not a folder/)
  // A demo stopped after writing refined.csv and before its summary is finished, replacing its own file.
  const late = join(dir, 'late')
  await runDemo(late, OPTS)
  const db = openDb(join(late, 'project.qcdb'))
  db.prepare("DELETE FROM meta WHERE key = 'demo_summary'").run()
  db.close()
  assert.equal(demoFolderState(late), 'unfinished')
  const finished = await runDemo(late, OPTS)
  assert.equal(readFileSync(finished.refinedCsv!, 'utf8'), before)
  // A new or empty folder is fine.
  const empty = join(dir, 'empty')
  mkdirSync(empty)
  assert.equal(demoFolderState(empty), 'new')
  assert.equal(demoFolderState(join(dir, 'not-there')), 'new')
})
