import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openDb } from '../../../electron/engine/store/db.ts'
import { importIntoProject } from '../../../electron/engine/usecases/import.ts'
import { validateWithReport } from '../../../electron/engine/usecases/validate.ts'
import { tempDir, writeEmbeddings } from './helpers.ts'

test('validateWithReport runs the sweep on the test split and writes JSON, CSV and HTML (replacing its own earlier reports)', async () => {
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
    // Stored in the project, and a second sweep replaces the files it wrote.
    const again = await validateWithReport(db, req)
    assert.notEqual(again.validationId, v.validationId)
    assert.equal((JSON.parse(readFileSync(v.files!.json, 'utf8')) as { startedAt: string }).startedAt, again.result.startedAt)
    // Without an output folder nothing is written.
    assert.equal((await validateWithReport(db, { ...req, outDir: undefined })).files, null)
  } finally {
    db.close()
  }
})

test('validateWithReport never replaces a file it did not write: refused before the sweep, nothing changed', async () => {
  const dir = tempDir()
  const db = openDb(join(dir, 'p.qcdb'))
  try {
    const emb = writeEmbeddings(dir, { n: 120, test: 30, noise: 0 })
    await importIntoProject(db, { source: { kind: 'embeddings', npyFile: emb.npy, labelsCsv: emb.csv } })
    const req = { rates: [0.3], seeds: [0], methods: ['teacher' as const], lambda: 0.01 }
    const count = () => (db.prepare('SELECT COUNT(*) AS c FROM validations').get() as { c: number }).c
    for (const [name, content] of [
      ['report.html', '<!DOCTYPE html><html><body>our plant report</body></html>'],
      ['validation.csv', 'line,defects\n1,3\n'],
      ['validation.json', '{"mine": true}'],
    ] as const) {
      const out = join(dir, `out-${name}`)
      mkdirSync(out)
      writeFileSync(join(out, name), content)
      const before = count()
      await assert.rejects(validateWithReport(db, { ...req, outDir: out }), (e: Error) => {
        assert.match(e.message, new RegExp(`${name.replace('.', '\\.')}: exists and was not written by qc validate`))
        return true
      })
      assert.equal(readFileSync(join(out, name), 'utf8'), content, `${name} untouched`)
      assert.equal(count(), before, `no sweep ran for ${name}`)
      assert.deepEqual(readdirSync(out), [name], 'nothing written beside it')
    }
    // A link to a folder is a folder; a link where a report file would go is refused.
    const real = join(dir, 'real')
    mkdirSync(real)
    symlinkSync(real, join(dir, 'linked'))
    const viaLink = await validateWithReport(db, { ...req, outDir: join(dir, 'linked') })
    assert.ok(viaLink.files)
    assert.deepEqual(readdirSync(real).sort(), ['report.html', 'validation.csv', 'validation.json'])
    const linkedFile = join(dir, 'linked-file')
    mkdirSync(linkedFile)
    symlinkSync(join(real, 'validation.csv'), join(linkedFile, 'validation.csv'))
    await assert.rejects(validateWithReport(db, { ...req, outDir: linkedFile }), /validation\.csv: is a symbolic link, not replaced/)
    // A file where the folder should be is refused too.
    writeFileSync(join(dir, 'afile'), 'x')
    await assert.rejects(validateWithReport(db, { ...req, outDir: join(dir, 'afile') }), /afile: is not a folder/)
    // The user's other files in the folder stay; a report written earlier by qc validate is replaced.
    const shared = join(dir, 'shared')
    mkdirSync(shared)
    writeFileSync(join(shared, 'notes.txt'), 'keep me')
    const first = await validateWithReport(db, { ...req, outDir: shared })
    const second = await validateWithReport(db, { ...req, outDir: shared })
    assert.notEqual(first.validationId, second.validationId)
    assert.equal(readFileSync(join(shared, 'notes.txt'), 'utf8'), 'keep me')
    assert.deepEqual(readdirSync(shared).sort(), ['notes.txt', 'report.html', 'validation.csv', 'validation.json'])
  } finally {
    db.close()
  }
})
