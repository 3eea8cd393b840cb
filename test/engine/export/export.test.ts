import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { now, openDb, type Db } from '../../../electron/engine/store/db.ts'
import { listSamples } from '../../../electron/engine/store/samples.ts'
import { importImageFolder } from '../../../electron/engine/import/image-folder.ts'
import { importCsv } from '../../../electron/engine/import/csv-manifest.ts'
import { importEmbeddings } from '../../../electron/engine/import/embeddings.ts'
import { recordDecision } from '../../../electron/engine/review/review.ts'
import { EXPORT_COLUMNS, exportLabels, safeDirName } from '../../../electron/engine/export/export.ts'
import { parseCsv, unguardCell } from '../../../electron/engine/util/csv.ts'
import { writeNpy } from '../../../electron/engine/util/npy.ts'
import { tempDir, writeImage } from '../import/fixtures.ts'

/**
 * Images: ok/a.png ok/b.png ok/sub/a.png (same file name as ok/a.png) scratch/c.png =cmd/e.png (a class a
 * spreadsheet would run as a formula)
 * dent/d.png; a done run suggesting: b -> scratch, c -> dent (flagged), others as given.
 */
const idx = (db: Db, name: string) => (db.prepare('SELECT idx FROM classes WHERE name = ?').get(name) as { idx: number }).idx

async function project(): Promise<{ db: Db; dir: string; root: string; id: (p: string) => number; runId: number }> {
  const dir = tempDir('qc-export-')
  const root = join(dir, 'images')
  const files = ['ok/a.png', 'ok/b.png', 'ok/sub/a.png', 'scratch/c.png', '=cmd/e.png', 'dent/d.png']
  for (const [i, f] of files.entries()) await writeImage(join(root, ...f.split('/')), i)
  const db = openDb(join(dir, 'p.qcdb'))
  await importImageFolder(db, root)
  const samples = listSamples(db)
  const id = (p: string) => samples.find((s) => s.path === p)!.id
  const runId = Number(
    db
      .prepare("INSERT INTO runs (method, params, seed, status, started_at, finished_at) VALUES ('pll', '{\"lambda\":0.0005}', 3, 'done', ?, ?)")
      .run(now(), now()).lastInsertRowid,
  )
  const cls = (n: string) => (db.prepare('SELECT idx FROM classes WHERE name = ?').get(n) as { idx: number }).idx
  const suggest: Record<string, string> = { 'ok/b.png': 'scratch', 'scratch/c.png': 'dent' }
  for (const s of samples) {
    const refined = cls(suggest[s.path] ?? s.givenLabel!)
    const flagged = refined !== s.givenIdx ? 1 : 0
    db.prepare(
      'INSERT INTO predictions (run_id, sample_id, refined_idx, prob, top1_idx, top1_prob, top2_idx, top2_prob, flagged, rank) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(runId, s.id, refined, 0.8123456789, refined, 0.8123456789, s.givenIdx, 0.15, flagged, flagged ? 1 : null)
  }
  return { db, dir, root, id, runId }
}

test('CSV export: exact header, final labels from review, excluded left out, formula-safe cells', async () => {
  const { db, dir, id, runId } = await project()
  recordDecision(db, { sampleId: id('ok/b.png'), action: 'accept', reviewer: 'ana' })
  recordDecision(db, { sampleId: id('dent/d.png'), action: 'exclude', reviewer: 'ana' })
  const out = join(dir, 'out', 'refined.csv')
  const res = await exportLabels(db, { format: 'csv', out })
  assert.equal(res.written, 5)
  assert.equal(res.excluded, 1)
  assert.equal(res.runId, runId)
  assert.ok(readFileSync(out, 'utf8').includes("'=cmd/e.png,'=cmd,'=cmd,"), 'formula cells are quoted')
  const text = readFileSync(out, 'utf8')
  assert.ok(text.startsWith('path,given_label,refined_label,confidence,flagged,'))
  const recs = parseCsv(text).map((r) => r.cells)
  assert.deepEqual(recs[0], [...EXPORT_COLUMNS])
  const byPath = new Map(recs.slice(1).map((r) => [r[0], Object.fromEntries(EXPORT_COLUMNS.map((c, i) => [c, r[i]]))]))
  assert.equal(byPath.has('dent/d.png'), false)
  assert.deepEqual(
    [byPath.get('ok/b.png')!.final_label, byPath.get('ok/b.png')!.review_status, byPath.get('ok/b.png')!.reviewer, byPath.get('ok/b.png')!.flagged],
    ['scratch', 'accepted', 'ana', '1'],
  )
  // Unreviewed flagged keeps the given label by default.
  assert.deepEqual([byPath.get('scratch/c.png')!.final_label, byPath.get('scratch/c.png')!.refined_label], ['scratch', 'dent'])
  assert.equal(byPath.get('ok/a.png')!.confidence, '0.812346')
  assert.ok(!/(^|,)=/m.test(text), 'no cell starts with =')
  // Never overwrite without force; force replaces atomically.
  await assert.rejects(
    exportLabels(db, { format: 'csv', out }),
    new RegExp(`${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} already exists \\(use --force to overwrite\\)`),
  )
  const auto = await exportLabels(db, { format: 'csv', out, force: true, autoAccept: true, includeExcluded: true })
  assert.equal(auto.written, 6)
  const autoRows = parseCsv(readFileSync(out, 'utf8')).map((r) => r.cells)
  const c = autoRows.find((r) => r[0] === 'scratch/c.png')!
  assert.deepEqual([c[5], c[6]], ['dent', 'auto-accepted'])
  assert.deepEqual(readdirSync(join(dir, 'out')), ['refined.csv'], 'no temp files left behind')
  db.close()
})

test('JSON export carries provenance and the same fields; onlyReviewed filters', async () => {
  const { db, dir, id, runId } = await project()
  recordDecision(db, { sampleId: id('scratch/c.png'), action: 'relabel', classIdx: idx(db, 'ok'), reviewer: 'ben' })
  const out = join(dir, 'labels.json')
  const res = await exportLabels(db, { format: 'json', out, onlyReviewed: true, appVersion: '9.9.9' })
  assert.equal(res.written, 1)
  const doc = JSON.parse(readFileSync(out, 'utf8'))
  assert.equal(doc.provenance.appVersion, '9.9.9')
  assert.equal(doc.provenance.run.id, runId)
  assert.equal(doc.provenance.run.method, 'pll')
  assert.deepEqual(doc.provenance.run.params, { lambda: 0.0005 })
  assert.equal(doc.provenance.projectFile, join(dir, 'p.qcdb'))
  assert.ok(Date.parse(doc.provenance.exportedAt) > 0)
  assert.deepEqual(Object.keys(doc.samples[0]), [...EXPORT_COLUMNS])
  assert.deepEqual(
    [doc.samples[0].path, doc.samples[0].final_label, doc.samples[0].review_status, doc.samples[0].confidence],
    ['scratch/c.png', 'ok', 'relabelled', 0.812346],
  )
  db.close()
})

test('round trip: CSV export re-imported as a manifest gives the same final labels', async () => {
  const { db, dir, root, id } = await project()
  recordDecision(db, { sampleId: id('ok/b.png'), action: 'accept', reviewer: 'ana' })
  recordDecision(db, { sampleId: id('scratch/c.png'), action: 'relabel', classIdx: idx(db, 'ok'), reviewer: 'ana' })
  recordDecision(db, { sampleId: id('ok/a.png'), action: 'exclude', reviewer: 'ana' })
  const out = join(dir, 'refined.csv')
  await exportLabels(db, { format: 'csv', out })
  const expected = new Map(
    parseCsv(readFileSync(out, 'utf8'))
      .slice(1)
      .map((r) => [unguardCell(r.cells[0]!), unguardCell(r.cells[5]!)]),
  )
  const db2 = openDb(join(dir, 'fresh.qcdb'))
  const s = await importCsv(db2, out, { imagesRoot: root, labelColumn: 'final_label' })
  assert.equal(s.added, 5)
  assert.deepEqual(s.skipped, [])
  for (const r of listSamples(db2)) assert.equal(r.givenLabel, expected.get(r.path), r.path)
  assert.equal(expected.get('ok/b.png'), 'scratch')
  assert.equal(expected.get('scratch/c.png'), 'ok')
  db.close()
  db2.close()
})

test('ImageFolder export: tree of final labels, collisions resolved, manifest and provenance; re-import gives the same labels', async () => {
  const { db, dir, id } = await project()
  recordDecision(db, { sampleId: id('ok/b.png'), action: 'accept', reviewer: 'ana' })
  recordDecision(db, { sampleId: id('dent/d.png'), action: 'exclude', reviewer: 'ana' })
  const out = join(dir, 'clean')
  const res = await exportLabels(db, { format: 'imagefolder', out })
  assert.equal(res.written, 5)
  const tree = (sub: string) => readdirSync(join(out, sub)).sort()
  assert.deepEqual(readdirSync(out).sort(), ['=cmd', 'manifest.csv', 'ok', 'provenance.json', 'scratch'])
  assert.deepEqual(tree('ok'), [`a-${id('ok/sub/a.png')}.png`, 'a.png'])
  // The first in sample-id order keeps the plain name.
  assert.deepEqual(readFileSync(join(out, 'ok', 'a.png')), readFileSync(join(dir, 'images', 'ok', 'a.png')))
  assert.deepEqual(tree('scratch'), ['b.png', 'c.png'])
  assert.deepEqual(tree('=cmd'), ['e.png'])
  assert.deepEqual(readFileSync(join(out, 'scratch', 'b.png')), readFileSync(join(dir, 'images', 'ok', 'b.png')))
  const manifest = parseCsv(readFileSync(join(out, 'manifest.csv'), 'utf8')).map((r) => r.cells)
  assert.equal(manifest[0]!.at(-1), 'exported_as')
  assert.equal(manifest.length, 6)
  assert.equal(JSON.parse(readFileSync(join(out, 'provenance.json'), 'utf8')).counts.samples, 5)
  // Re-import of the tree: same labels for the same content.
  const db2 = openDb(join(dir, 'fresh.qcdb'))
  const s = await importImageFolder(db2, out)
  assert.equal(s.added, 5)
  assert.deepEqual(s.skipped, [])
  const finalByHash = new Map(manifest.slice(1).map((r) => [r[14], unguardCell(r[5]!)]))
  for (const r of listSamples(db2)) assert.equal(r.givenLabel, finalByHash.get(r.hash))
  // Existing folder: refused without force; force replaces it whole.
  await assert.rejects(exportLabels(db, { format: 'imagefolder', out }), /clean already exists \(use --force to overwrite\)/)
  recordDecision(db, { sampleId: id('scratch/c.png'), action: 'relabel', classIdx: idx(db, 'dent'), reviewer: 'ana' })
  await exportLabels(db, { format: 'imagefolder', out, force: true, link: 'hardlink' })
  assert.deepEqual(readdirSync(out).sort(), ['=cmd', 'dent', 'manifest.csv', 'ok', 'provenance.json', 'scratch'])
  assert.equal(statSync(join(out, 'dent', 'c.png')).nlink, 2, 'hard-linked')
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.endsWith('.tmp')),
    [],
  )
  db.close()
  db2.close()
})

test('ImageFolder export with images gone since the import: some missing are written down, all missing is refused', async () => {
  const { db, dir, root } = await project()
  try {
    rmSync(join(root, 'ok', 'b.png'))
    const out = join(dir, 'partial')
    const res = await exportLabels(db, { format: 'imagefolder', out })
    assert.equal(res.written, 5)
    assert.deepEqual(
      res.skipped.map((x) => x.path),
      ['ok/b.png'],
    )
    assert.match(res.skipped[0]!.reason, /^cannot read .*b\.png \(ENOENT\)/)
    assert.deepEqual(res.unreadable, res.skipped)
    const prov = JSON.parse(readFileSync(join(out, 'provenance.json'), 'utf8')) as { counts: { unreadable: number }; unreadable: { path: string }[] }
    assert.equal(prov.counts.unreadable, 1)
    assert.deepEqual(
      prov.unreadable.map((x) => x.path),
      ['ok/b.png'],
    )
    // The whole folder moved: refused, nothing written, no temporary folder left.
    renameSync(root, join(dir, 'moved'))
    const none = join(dir, 'none')
    await assert.rejects(exportLabels(db, { format: 'imagefolder', out: none }), /none: none of the 6 images could be read .*nothing was written/)
    assert.equal(existsSync(none), false)
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith('.tmp')),
      [],
    )
  } finally {
    db.close()
  }
})

test('embeddings projects export the label CSV first column as path; ImageFolder is refused', async () => {
  const dir = tempDir('qc-export-')
  writeNpy(join(dir, 'x.npy'), Float32Array.from([1, 0, 0, 1]), [2, 2])
  writeFileSync(join(dir, 'y.csv'), 'id,label\nitem-1,ok\nitem-2,dent\n')
  const db = openDb(join(dir, 'p.qcdb'))
  await importEmbeddings(db, join(dir, 'x.npy'), join(dir, 'y.csv'))
  await exportLabels(db, { format: 'csv', out: join(dir, 'o.csv') })
  const rows = parseCsv(readFileSync(join(dir, 'o.csv'), 'utf8')).map((r) => r.cells)
  assert.deepEqual(
    rows.slice(1).map((r) => [r[0], r[1], r[2], r[5], r[6]]),
    [
      ['item-1', 'ok', '', 'ok', 'unreviewed'],
      ['item-2', 'dent', '', 'dent', 'unreviewed'],
    ],
  )
  await assert.rejects(exportLabels(db, { format: 'imagefolder', out: join(dir, 'tree') }), /needs images/)
  assert.equal(existsSync(join(dir, 'tree')), false)
  db.close()
})

test('safeDirName keeps folder names portable', () => {
  assert.equal(safeDirName('a/b:c'), 'a_b_c')
  assert.equal(safeDirName('con'), '_con')
  assert.equal(safeDirName('..'), '_')
  assert.equal(safeDirName('défaut 中文'), 'défaut 中文')
})
