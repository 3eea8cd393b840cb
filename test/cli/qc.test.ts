// The `qc` command as a user runs it: a child process, real files, real project database.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { parseCsv as parseRecords } from '../../electron/engine/util/csv.ts'
import { writeNpy } from '../../electron/engine/util/npy.ts'
import { generateDemo } from '../../electron/engine/demo/synth.ts'
import { mulberry32 } from '../../electron/engine/util/rng.ts'

const parseCsv = (text: string): string[][] => parseRecords(text).map((r) => r.cells)

const QC = new URL('../../bin/qc.mjs', import.meta.url).pathname

function qc(args: string[], opts: { cwd?: string } = {}) {
  const r = spawnSync(process.execPath, [QC, ...args], { encoding: 'utf8', cwd: opts.cwd, timeout: 240_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** Gaussian clusters (K classes in D dims), with a fraction of labels flipped to another class. */
function clusters(n: number, k: number, d: number, noise: number, seed: number) {
  const rand = mulberry32(seed)
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand())
  const centres = Array.from({ length: k }, () => Array.from({ length: d }, () => 2.5 * gauss()))
  const x = new Float32Array(n * d)
  const truth: number[] = []
  const given: number[] = []
  for (let i = 0; i < n; i++) {
    const c = i % k
    truth.push(c)
    for (let j = 0; j < d; j++) x[i * d + j] = centres[c]![j]! + gauss()
    given.push(rand() < noise ? (c + 1 + Math.floor(rand() * (k - 1))) % k : c)
  }
  return { x, truth, given }
}

test('qc run --features writes the project and refined.csv with the stable header, and finds flipped labels', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-cli-'))
  const k = 4
  const { x, truth, given } = clusters(400, k, 16, 0.3, 7)
  const names = ['ok', 'scratch', 'dent', 'stain']
  writeNpy(join(dir, 'x.npy'), x, [400, 16])
  writeFileSync(join(dir, 'y.csv'), 'id,label\n' + given.map((g, i) => `part-${i},${names[g]}`).join('\n') + '\n')
  const r = qc(['run', '--features', join(dir, 'x.npy'), '--labels', join(dir, 'y.csv'), '--out', join(dir, 'out'), '--json', '--quiet'])
  assert.equal(r.code, 0, r.stderr)
  const summary = JSON.parse(r.stdout) as {
    runId: number
    method: string
    requested: string
    flagged: number
    selection: { candidates: { candidate: string; chosen: boolean }[]; reason: string }
  }
  // The default picks the method by held-out validation and says which and why.
  assert.equal(summary.requested, 'auto')
  assert.ok(['teacher', 'sd', 'pll'].includes(summary.method), summary.method)
  const chosen = summary.selection.candidates.filter((c) => c.chosen)
  assert.equal(chosen.length, 1)
  assert.equal(chosen[0]!.candidate.replace(/\d+$/, '').replace(/-.*$/, ''), summary.method)
  assert.ok(summary.selection.reason.length > 0)
  assert.ok(existsSync(join(dir, 'out', 'project.qcdb')))
  const rows = parseCsv(readFileSync(join(dir, 'out', 'refined.csv'), 'utf8'))
  assert.deepEqual(rows[0]!.slice(0, 5), ['path', 'given_label', 'refined_label', 'confidence', 'flagged'])
  const header = rows[0]!
  const col = (name: string) => header.indexOf(name)
  const body = rows.slice(1).filter((r) => r.length > 1)
  assert.equal(body.length, 400)
  // The paths are the label CSV's first column; the refined labels beat the given ones.
  let givenOk = 0
  let refinedOk = 0
  for (const row of body) {
    const i = Number(row[col('path')]!.slice('part-'.length))
    if (row[col('given_label')] === names[truth[i]!]) givenOk++
    if (row[col('refined_label')] === names[truth[i]!]) refinedOk++
    assert.equal(row[col('flagged')] === '1' || row[col('flagged')] === 'true', row[col('refined_label')] !== row[col('given_label')])
  }
  assert.ok(givenOk / 400 < 0.75, `noise injected: ${givenOk}`)
  assert.ok(refinedOk / 400 > 0.95, `refined labels should recover the clusters, got ${refinedOk}/400`)
  const db = new Database(join(dir, 'out', 'project.qcdb'), { readonly: true })
  const run = db.prepare('SELECT method, status FROM runs WHERE id = ?').get(summary.runId) as { method: string; status: string }
  assert.deepEqual(run, { method: summary.method, status: 'done' })
  db.close()
})

test('qc run refuses bad input with a one-line reason that names the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-cli-bad-'))
  writeFileSync(join(dir, 'bad.npy'), 'this is not numpy')
  writeFileSync(join(dir, 'y.csv'), 'id,label\na,ok\n')
  const r = qc(['run', '--features', join(dir, 'bad.npy'), '--labels', join(dir, 'y.csv'), '--out', join(dir, 'out')])
  assert.equal(r.code, 1)
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, r.stderr)
  assert.match(lines[0]!, /^qc: .*bad\.npy/)

  const missing = qc(['run', '--images', join(dir, 'nope'), '--out', join(dir, 'out2')])
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /nope/)

  const usage = qc(['run', '--out', join(dir, 'o')])
  assert.equal(usage.code, 2)
  assert.match(usage.stderr, /--images DIR or --features/)
  assert.equal(qc(['frobnicate']).code, 2)
  assert.equal(qc(['refine', '--project', join(dir, 'x.qcdb'), '--lambda', 'lots']).code, 2)
})

test('qc demo runs end to end and reports given, teacher and PLL accuracy against the hidden truth', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-demo-'))
  const r = qc(['demo', '--out', dir, '--per-class', '16'])
  assert.equal(r.code, 0, r.stderr)
  const js = qc(['demo', '--out', join(dir, 'again'), '--per-class', '16', '--json', '--quiet'])
  assert.equal(js.code, 0, js.stderr)
  const sum = JSON.parse(js.stdout) as { givenLabelAccuracy: number; teacherAccuracy: number; chosenAccuracy: number; chosenMethod: string }
  // The method chosen on the given labels alone never makes them worse (demo truth; 80 images on
  // 3104-d features leave little to gain, the 500-image default gains about 6 points).
  assert.ok(sum.chosenAccuracy >= sum.givenLabelAccuracy, JSON.stringify(sum))
  assert.notEqual(sum.chosenMethod, 'pll')
  assert.match(r.stdout, /given labels correct \(vs hidden truth\): +\d+\.\d%/)
  assert.match(r.stdout, /teacher labels correct: +\d+\.\d%/)
  assert.match(r.stdout, /PLL refined labels correct: +\d+\.\d%/)
  assert.match(r.stdout, /chosen by validation \((teacher|sd|pll)\): +\d+\.\d%/)
  const rows = parseCsv(readFileSync(join(dir, 'refined.csv'), 'utf8')).filter((x) => x.length > 1)
  assert.equal(rows.length, 1 + 16 * 5)
  // The truth stays apart from the labels the tool sees.
  const labels = readFileSync(join(dir, 'data', 'labels.csv'), 'utf8')
  assert.doesNotMatch(labels, /truth/i)
  const info = qc(['info', '--project', join(dir, 'project.qcdb'), '--json'])
  assert.equal(info.code, 0, info.stderr)
  const parsed = JSON.parse(info.stdout) as { samples: number; runs: { method: string; status: string }[] }
  assert.equal(parsed.samples, 80)
  // One run, the one auto chose (teacher and PLL are compared in memory for the summary).
  assert.equal(parsed.runs.length, 1)
  assert.ok(['teacher', 'sd', 'pll'].includes(parsed.runs[0]!.method))
  assert.equal(parsed.runs[0]!.status, 'done')
})

test('Ctrl-C during extraction stops cleanly with exit 130, and the same command resumes without recomputing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-sigint-'))
  const demo = await generateDemo(join(dir, 'data'), { perClass: 40, seed: 3 })
  const project = join(dir, 'p.qcdb')
  assert.equal(qc(['import', '--project', project, '--csv', demo.labelsCsv, '--images', demo.imagesRoot, '--quiet']).code, 0)
  const child = spawn(process.execPath, [QC, 'extract', '--project', project, '--batch', '8', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  const code = await new Promise<number | null>((resolve) => {
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString()
      // Interrupt once some features are stored.
      if (/"done":\s*(1[6-9]|[2-9]\d)/.test(stderr) && !child.killed) child.kill('SIGINT')
    })
    child.on('exit', (c) => resolve(c))
  })
  const db = new Database(project, { readonly: true })
  const stored = (db.prepare('SELECT count(*) AS n FROM features').get() as { n: number }).n
  db.close()
  if (code === 0) {
    // The machine was fast enough to finish before the signal: nothing to resume, still consistent.
    assert.equal(stored, 200)
    return
  }
  assert.equal(code, 130, stderr)
  assert.match(stderr, /cancelled/)
  assert.ok(stored > 0 && stored < 200, `partial features kept: ${stored}`)
  const again = qc(['extract', '--project', project, '--json', '--quiet'])
  assert.equal(again.code, 0, again.stderr)
  const res = JSON.parse(again.stdout) as { summary: { computed: number; reused: number } }
  assert.equal(res.summary.computed, 200 - stored)
  assert.equal(res.summary.reused, stored)
})

test('train and test embeddings from one model share a feature space, so qc validate can use the test split', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-emb-'))
  const names = ['ok', 'scratch', 'dent']
  const all = clusters(360, 3, 8, 0, 11)
  const tr = 240
  writeNpy(join(dir, 'train_x.npy'), all.x.subarray(0, tr * 8), [tr, 8])
  writeNpy(join(dir, 'test_x.npy'), all.x.subarray(tr * 8), [360 - tr, 8])
  writeFileSync(
    join(dir, 'train_y.csv'),
    'id,label\n' +
      all.truth
        .slice(0, tr)
        .map((g, i) => `train-${i},${names[g]}`)
        .join('\n') +
      '\n',
  )
  writeFileSync(
    join(dir, 'test_y.csv'),
    'id,label\n' +
      all.truth
        .slice(tr)
        .map((g, i) => `test-${i},${names[g]}`)
        .join('\n') +
      '\n',
  )
  const project = join(dir, 'p.qcdb')
  assert.equal(qc(['import', '--project', project, '--features', join(dir, 'train_x.npy'), '--labels', join(dir, 'train_y.csv'), '--quiet']).code, 0)
  const second = qc(['import', '--project', project, '--features', join(dir, 'test_x.npy'), '--labels', join(dir, 'test_y.csv'), '--split', 'test'])
  assert.equal(second.code, 0, second.stderr)
  assert.match(second.stdout, /joins the feature space/)
  const db = new Database(project, { readonly: true })
  assert.equal((db.prepare('SELECT count(*) AS n FROM backbones').get() as { n: number }).n, 1)
  db.close()
  const v = qc([
    'validate',
    '--project',
    project,
    '--out',
    join(dir, 'v'),
    '--noise',
    'symmetric',
    '--rates',
    '0.3',
    '--seeds',
    '0',
    '--methods',
    'teacher',
    '--lambda',
    '0.01',
    '--review',
    '10,30',
    '--quiet',
  ])
  assert.equal(v.code, 0, v.stderr)
  const report = readFileSync(join(dir, 'v', 'report.html'), 'utf8')
  assert.match(report, /<html/i)
  // --review: the simulated inspector's curves, in the JSON and the report.
  const json = JSON.parse(readFileSync(join(dir, 'v', 'validation.json'), 'utf8')) as {
    config: { review?: { batch: number; budget: number } }
    reviewSummary?: { strategy: string; reviews: number[] }[]
  }
  assert.deepEqual(json.config.review, { batch: 10, budget: 30 })
  assert.deepEqual(
    json.reviewSummary!.map((r) => r.strategy),
    ['feedback', 'static', 'uncertain', 'cl'],
  )
  assert.deepEqual(json.reviewSummary![0]!.reviews, [0, 10, 20, 30])
  assert.match(report, /How many images do we have to look at\?/)
  const bad = qc(['validate', '--project', project, '--out', join(dir, 'v2'), '--review', '30,10'])
  assert.equal(bad.code, 2, bad.stderr)
  assert.match(bad.stderr, /--review.*BATCH,BUDGET/s)
  const csv = parseCsv(readFileSync(join(dir, 'v', 'validation.csv'), 'utf8'))
  assert.ok(csv.length >= 2, 'one row per cell')
})

test('with fewer samples than feature dimensions qc warns, and --cross-fit finds the flipped labels out of fold', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-xfit-'))
  const names = ['ok', 'scratch', 'dent']
  const { x, truth, given } = clusters(90, 3, 120, 0.25, 21)
  writeNpy(join(dir, 'x.npy'), x, [90, 120])
  writeFileSync(join(dir, 'y.csv'), 'id,label\n' + given.map((g, i) => `s${i},${names[g]}`).join('\n') + '\n')
  const project = join(dir, 'p.qcdb')
  assert.equal(qc(['import', '--project', project, '--features', join(dir, 'x.npy'), '--labels', join(dir, 'y.csv'), '--quiet']).code, 0)
  const plain = qc(['refine', '--project', project, '--method', 'teacher', '--lambda', '0.0001'])
  assert.equal(plain.code, 0, plain.stderr)
  assert.match(plain.stdout, /warning: only 90 training samples for 120 feature dimensions/i)
  const crossed = qc(['refine', '--project', project, '--method', 'teacher', '--lambda', '0.0001', '--cross-fit', '--json', '--quiet'])
  assert.equal(crossed.code, 0, crossed.stderr)
  const res = JSON.parse(crossed.stdout) as { runId: number; chosen: { crossFit: boolean } }
  assert.equal(res.chosen.crossFit, true)
  const db = new Database(project, { readonly: true })
  const rows = db.prepare('SELECT s.path, p.flagged FROM predictions p JOIN samples s ON s.id = p.sample_id WHERE p.run_id = ?').all(res.runId) as {
    path: string
    flagged: number
  }[]
  db.close()
  let hit = 0
  let wrong = 0
  for (const r of rows) {
    const i = Number(r.path.slice(1))
    if (given[i] !== truth[i]) {
      wrong++
      if (r.flagged) hit++
    }
  }
  assert.ok(wrong > 10 && hit / wrong >= 0.8, `flipped labels found out of fold: ${hit}/${wrong}`)
})
