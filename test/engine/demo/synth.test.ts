import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import sharp from 'sharp'
import { CONFUSABLE, DEMO_CLASSES, generateDemo, hastyLabel } from '../../../electron/engine/demo/synth.ts'
import { mulberry32 } from '../../../electron/engine/util/rng.ts'
import { parseCsv } from '../../../electron/engine/util/csv.ts'
import { openDb } from '../../../electron/engine/store/db.ts'
import { importCsv } from '../../../electron/engine/import/csv-manifest.ts'

const hashes = (dir: string) =>
  readdirSync(dir)
    .sort()
    .map((f) => [
      f,
      createHash('sha256')
        .update(readFileSync(join(dir, f)))
        .digest('hex'),
    ])
const csvRows = (f: string) => parseCsv(readFileSync(f, 'utf8')).map((r) => r.cells)

test('same seed gives byte-identical data; another seed differs; truth kept apart', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'qc-demo-'))
  const a = await generateDemo(join(tmp, 'a'), { perClass: 8, size: 48, seed: 7 })
  const b = await generateDemo(join(tmp, 'b'), { perClass: 8, size: 48, seed: 7 })
  const c = await generateDemo(join(tmp, 'c'), { perClass: 8, size: 48, seed: 8 })
  assert.equal(a.n, 40)
  assert.deepEqual(a.classes, [...DEMO_CLASSES])
  assert.deepEqual(hashes(join(a.imagesRoot, 'images')), hashes(join(b.imagesRoot, 'images')))
  assert.equal(readFileSync(a.labelsCsv, 'utf8'), readFileSync(b.labelsCsv, 'utf8'))
  assert.notDeepEqual(hashes(join(a.imagesRoot, 'images')), hashes(join(c.imagesRoot, 'images')))

  const labels = csvRows(a.labelsCsv)
  const truth = csvRows(a.truthCsv)
  // The labels CSV holds only path and the inspector's label: no truth column.
  assert.deepEqual(labels[0], ['path', 'label'])
  assert.ok(labels.slice(1).every((r) => r.length === 2))
  assert.deepEqual(truth[0], ['path', 'label'])
  assert.deepEqual(
    labels.map((r) => r[0]),
    truth.map((r) => r[0]),
  )
  const wrong = labels.slice(1).filter((r, i) => r[1] !== truth[i + 1]![1]).length
  assert.equal(wrong, a.noisyCount)
  // Each true class appears perClass times.
  for (const cls of DEMO_CLASSES) assert.equal(truth.filter((r) => r[1] === cls).length, 8)
  // File names do not reveal the class.
  assert.ok(truth.slice(1).every((r) => /^images\/img_\d{5}\.png$/.test(r[0]!)))
  assert.match(readFileSync(a.readme, 'utf8'), /SYNTHETIC DEMO DATA - not real inspection images/)
  const meta = await sharp(join(a.imagesRoot, truth[1]![0]!)).metadata()
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 48, 48])
  // The labels CSV imports on its own (paths relative to its folder) and with imagesRoot.
  const db = openDb(join(tmp, 'p.qcdb'))
  const s1 = await importCsv(db, a.labelsCsv)
  assert.equal(s1.added, 40)
  const s2 = await importCsv(db, a.labelsCsv, { imagesRoot: a.imagesRoot })
  assert.equal(s2.existing, 40)
  db.close()
})

test('hasty inspector: overall error near the set rate, mostly confusable pairs and missed defects', () => {
  const r = mulberry32(1)
  const n = 20000
  let wrong = 0
  let toPartner = 0
  let missed = 0
  let defectErrors = 0
  for (let i = 0; i < n; i++) {
    const t = DEMO_CLASSES[i % 5]!
    const l = hastyLabel(t, 0.25, r)
    if (l === t) continue
    wrong++
    if (t !== 'ok') {
      defectErrors++
      if (l === CONFUSABLE[t]) toPartner++
      if (l === 'ok') missed++
    }
  }
  assert.ok(Math.abs(wrong / n - 0.25) < 0.015, `error rate ${wrong / n}`)
  assert.ok(Math.abs(toPartner / defectErrors - 0.6) < 0.03)
  assert.ok(Math.abs(missed / defectErrors - 0.3) < 0.03)
  // The true class stays the most likely label for every class (the noise is identifiable).
  assert.ok(1 - 0.25 / 0.9 > (0.25 / 0.9) * 0.6)
})

test('rejects bad options with a message', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'qc-demo-'))
  await assert.rejects(generateDemo(tmp, { perClass: 0 }), /perClass must be a positive integer/)
  await assert.rejects(generateDemo(tmp, { noiseRate: 0.95 }), /noiseRate must be in/)
})
