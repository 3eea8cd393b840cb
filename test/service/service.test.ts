import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createService, type Service } from '../../electron/service/service.ts'
import { blobToVec, openDb } from '../../electron/engine/store/db.ts'
import { getValidation } from '../../electron/engine/store/read-model.ts'
import { summarize, type ValidationResult } from '../../electron/engine/validate/validate.ts'
import { ValidationDetail, VALIDATION_LIMITS, type ProjectInfo } from '../../shared/contract.ts'

let dir: string
let svc: Service
let project: ProjectInfo
let runId: number

async function finished(ref: unknown): Promise<any> {
  const { jobId } = ref as { jobId: string }
  const result = await svc.jobs.wait(jobId)
  const job = svc.jobs.get(jobId)!
  assert.equal(job.status, 'completed', `${job.kind} job ${job.status}: ${job.error}`)
  return result
}

async function rejectsWith(p: Promise<unknown>, code: string, re?: RegExp): Promise<void> {
  await assert.rejects(p, (e: any) => {
    assert.equal(e.code, code, e.message)
    if (re) assert.match(e.message, re)
    return true
  })
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'qc-service-'))
  svc = createService({ dataDir: join(dir, 'data'), progressIntervalMs: 0 })
})

after(async () => {
  await svc.close()
  rmSync(dir, { recursive: true, force: true })
})

test('without a project: clear no_project errors; bad input names the field', async () => {
  await rejectsWith(svc.call('listRuns', {}), 'no_project', /no project is open/)
  await rejectsWith(svc.call('openProject', { path: 'relative.qcdb' }), 'bad_request', /absolute path/)
  await rejectsWith(svc.call('openProject', { path: join(dir, 'missing.qcdb') }), 'not_found', /missing\.qcdb/)
  await rejectsWith(svc.call('review', { sampleId: 'x' }), 'bad_request', /sampleId/)
  await rejectsWith(svc.call('nope', {}), 'not_found', /unknown method/)
  assert.deepEqual(await svc.call('currentProject', {}), { project: null })
  const info = (await svc.call('appInfo', {})) as { mode: string; version: string }
  assert.equal(info.mode, 'web')
  assert.match(info.version, /^\d+\.\d+\.\d+/)
})

test('demo project: the whole pipeline of qc demo (generated, imported with an audited subset, features, an auto run), opened, listed as recent', async () => {
  const events: string[] = []
  const off = svc.subscribe((e) => events.push(e.type))
  project = await finished(await svc.call('createDemoProject', { perClass: 6, seed: 1 }))
  off()
  assert.equal(project.samples, 30)
  assert.equal(project.backbones, 1)
  assert.equal(project.runs, 1, 'the demo button runs the refinement like qc demo')
  const demoRuns = (await svc.call('listRuns', {})) as { runs: { method: string; status: string; params: { method: string }; selection: unknown }[] }
  assert.equal(demoRuns.runs[0]!.status, 'done')
  assert.equal(demoRuns.runs[0]!.params.method, 'auto')
  assert.ok(['teacher', 'sd', 'pll'].includes(demoRuns.runs[0]!.method))
  assert.ok(demoRuns.runs[0]!.selection)
  assert.equal(project.demo, true)
  assert.equal(project.trusted, 6, 'every fifth image carries its true class')
  assert.deepEqual(project.classes.map((c) => c.name).sort(), ['crack', 'dent', 'ok', 'scratch', 'stain'])
  assert.ok(events.includes('project:opened'))
  const cur = (await svc.call('currentProject', {})) as { project: ProjectInfo }
  assert.equal(cur.project.path, project.path)
  const recent = (await svc.call('listRecentProjects', {})) as { projects: { path: string; exists: boolean }[] }
  assert.equal(recent.projects[0]?.path, project.path)
  assert.equal(recent.projects[0]?.exists, true)
})

test('extract with the built-in backbone (already done by the demo: nothing recomputed), then refine with PLL', async () => {
  const ex = await finished(await svc.call('extractFeatures', {}))
  assert.equal(ex.computed, 0)
  assert.equal(ex.reused, 30)
  assert.deepEqual(ex.failed, [])
  const bbs = (await svc.call('listBackbones', {})) as { backbones: { id: number; kind: string; features: number }[] }
  assert.equal(bbs.backbones.find((b) => b.id === ex.backboneId)?.features, 30)

  const defaults = (await svc.call('refineDefaults', {})) as { recommended: string; defaults: { backboneId: number; method: string } }
  assert.equal(defaults.recommended, 'auto')
  assert.equal(defaults.defaults.method, 'auto')
  assert.equal(defaults.defaults.backboneId, ex.backboneId)
  // A fixed lambda keeps the test quick (no k-fold selection); a strong one, because 30 images
  // on 3104-d features let a weakly regularised probe memorise the given labels (nothing flagged).
  const run = await finished(await svc.call('startRun', { method: 'pll', lambda: 1, pllLoss: 'ce', seed: 0 }))
  runId = run.id
  assert.equal(run.status, 'done')
  assert.equal(run.predictions, 30)
  const runs = (await svc.call('listRuns', {})) as { runs: { id: number; flagged: number }[] }
  assert.equal(runs.runs[0]?.id, runId)
  const detail = (await svc.call('getRun', { runId })) as { perClass: { given: number; refined: number }[]; flagged: number }
  assert.equal(
    detail.perClass.reduce((a, c) => a + c.given, 0),
    30,
  )
  assert.equal(
    detail.perClass.reduce((a, c) => a + c.refined, 0),
    30,
  )
  await rejectsWith(svc.call('getRun', { runId: 999 }), 'not_found')
})

test('review queue: flagged first in rank order, filters and paging agree with the database', async () => {
  const all = (await svc.call('querySamples', { limit: 100 })) as { total: number; items: any[]; runId: number }
  assert.equal(all.total, 30)
  assert.equal(all.runId, runId)
  const db = openDb(project.path, { create: false, readonly: true })
  const flaggedInDb = (db.prepare('SELECT count(*) AS n FROM predictions WHERE run_id = ? AND flagged = 1').get(runId) as { n: number }).n
  db.close()
  const flagged = all.items.filter((s) => s.flagged)
  assert.equal(flagged.length, flaggedInDb)
  // Flagged rows come first, ranks ascending (1 = most certain).
  assert.deepEqual(
    all.items.slice(0, flagged.length).map((s) => s.flagged),
    flagged.map(() => true),
  )
  const ranks = flagged.map((s) => s.rank)
  assert.deepEqual(
    ranks,
    [...ranks].sort((a, b) => a - b),
  )
  for (const s of flagged) assert.notEqual(s.refined, s.given)

  // Least certain first (the queue the model learns most from): the same flagged samples, ordered
  // by the margin between the two most likely classes as stored in the predictions table.
  const unsure = (await svc.call('querySamples', { sort: 'uncertain', limit: 100 })) as { total: number; items: any[] }
  assert.equal(unsure.total, 30)
  const db2 = openDb(project.path, { create: false, readonly: true })
  const margins = new Map(
    (
      db2.prepare('SELECT sample_id AS id, top1_prob - top2_prob AS m FROM predictions WHERE run_id = ? AND flagged = 1').all(runId) as {
        id: number
        m: number
      }[]
    ).map((r) => [r.id, r.m]),
  )
  db2.close()
  const unsureFlagged = unsure.items.slice(0, flagged.length)
  assert.deepEqual(new Set(unsureFlagged.map((s) => s.id)), new Set(flagged.map((s) => s.id)))
  // Trusted labels the given one contradicts come first (clamped, as in rank order), then margins ascending.
  const isTrusted = (s: { trusted: number | null; refined: number | null }) => s.trusted !== null && s.refined === s.trusted
  const nTrusted = unsureFlagged.filter(isTrusted).length
  assert.ok(nTrusted > 0 && unsureFlagged.slice(0, nTrusted).every(isTrusted), `${nTrusted} trusted corrections, first`)
  const m = unsureFlagged.slice(nTrusted).map((s) => margins.get(s.id)!)
  assert.deepEqual(
    m,
    [...m].sort((a, b) => a - b),
  )
  assert.notDeepEqual(
    unsureFlagged.map((s) => s.id),
    flagged.map((s) => s.id),
    'on this run the two orders differ',
  )

  const onlyFlagged = (await svc.call('querySamples', { flagged: true, limit: 2 })) as { total: number; items: any[] }
  assert.equal(onlyFlagged.total, flaggedInDb)
  assert.ok(onlyFlagged.items.length <= 2)
  const cls = (await svc.call('querySamples', { classIdx: 0, limit: 100 })) as { total: number; items: any[] }
  assert.ok(cls.items.every((s) => s.given === 0))
  assert.equal(cls.total, project.classes.find((c) => c.idx === 0)!.count)
  const test = (await svc.call('querySamples', { split: 'test' })) as { total: number }
  assert.equal(test.total, 0)

  // Confusion matrix cells open exactly their samples.
  const conf = (await svc.call('confusion', {})) as { matrix: number[][] }
  assert.equal(
    conf.matrix.flat().reduce((a, b) => a + b, 0),
    30,
  )
  for (let g = 0; g < conf.matrix.length; g++) {
    for (let r = 0; r < conf.matrix.length; r++) {
      const cell = (await svc.call('querySamples', { givenIdx: g, refinedIdx: r, limit: 100 })) as { total: number }
      assert.equal(cell.total, conf.matrix[g]![r], `cell ${g},${r}`)
    }
  }
  const noise = (await svc.call('noiseEstimate', {})) as { estimate: number; trustedErrorRate: number | null }
  assert.equal(noise.estimate, flaggedInDb / 30)
  assert.ok(noise.trustedErrorRate !== null && noise.trustedErrorRate >= 0 && noise.trustedErrorRate <= 1)
})

test('sample detail: top-2 from the run, neighbours by cosine similarity checked against a direct computation', async () => {
  // A sample without a trusted label (those are clamped to it, whatever the model's top-2 says).
  const tdb = openDb(project.path, { create: false, readonly: true })
  const untrusted = new Set((tdb.prepare('SELECT id FROM samples WHERE trusted_class_id IS NULL').all() as { id: number }[]).map((r) => r.id))
  tdb.close()
  const first = ((await svc.call('querySamples', { limit: 100 })) as { items: any[] }).items.find((s) => untrusted.has(s.id))
  const d = (await svc.call('getSample', { sampleId: first.id, neighbours: 5 })) as any
  assert.equal(d.top.length, 2)
  assert.ok(d.top[0].prob >= d.top[1].prob)
  assert.equal(d.top[0].idx, d.refined)
  assert.equal(d.neighbours.length, 5)
  // Independent: cosine similarity from the stored blobs, sorted.
  const db = openDb(project.path, { create: false, readonly: true })
  const rows = db.prepare('SELECT s.id AS id, f.vec AS vec FROM samples s JOIN features f ON f.hash = s.hash').all() as { id: number; vec: Buffer }[]
  db.close()
  const vec = new Map(rows.map((r) => [r.id, blobToVec(r.vec)]))
  const q = vec.get(first.id)!
  const cos = (a: Float32Array, b: Float32Array) => {
    let ab = 0
    let aa = 0
    let bb = 0
    for (let i = 0; i < a.length; i++) {
      ab += a[i]! * b[i]!
      aa += a[i]! * a[i]!
      bb += b[i]! * b[i]!
    }
    return ab / Math.sqrt(aa * bb)
  }
  const expected = rows
    .filter((r) => r.id !== first.id)
    .map((r) => ({ id: r.id, s: cos(q, vec.get(r.id)!) }))
    .sort((a, b) => b.s - a.s)
    .slice(0, 5)
  assert.deepEqual(
    d.neighbours.map((n: any) => n.id),
    expected.map((e) => e.id),
  )
  for (let i = 0; i < 5; i++) assert.ok(Math.abs(d.neighbours[i].similarity - expected[i]!.s) < 1e-5)
  await rejectsWith(svc.call('getSample', { sampleId: 99999 }), 'not_found')
})

/** Eigenvalues of a symmetric matrix by cyclic Jacobi rotations (Golub & Van Loan, sec. 8.5). */
function jacobiEigenvalues(a: number[][]): number[] {
  const n = a.length
  const m = a.map((r) => [...r])
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p]![q]! ** 2
    if (off < 1e-20) break
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(m[p]![q]!) < 1e-300) continue
        const theta = (m[q]![q]! - m[p]![p]!) / (2 * m[p]![q]!)
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1))
        const c = 1 / Math.sqrt(t * t + 1)
        const s = t * c
        for (let k = 0; k < n; k++) {
          const mkp = m[k]![p]!
          const mkq = m[k]![q]!
          m[k]![p] = c * mkp - s * mkq
          m[k]![q] = s * mkp + c * mkq
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p]![k]!
          const mqk = m[q]![k]!
          m[p]![k] = c * mpk - s * mqk
          m[q]![k] = s * mpk + c * mqk
        }
      }
    }
  }
  return m.map((r, i) => r[i]!).sort((x, y) => y - x)
}

test('embedding map: PCA variances match the eigenvalues of the centred Gram matrix', async () => {
  const map = (await svc.call('embeddingMap', {})) as {
    points: { id: number; x: number; y: number; given: number | null }[]
    explainedVariance: number[]
  }
  assert.equal(map.points.length, 30)
  const db = openDb(project.path, { create: false, readonly: true })
  const rows = db.prepare('SELECT s.id AS id, f.vec AS vec FROM samples s JOIN features f ON f.hash = s.hash ORDER BY s.id').all() as {
    id: number
    vec: Buffer
  }[]
  db.close()
  const x = rows.map((r) => Array.from(blobToVec(r.vec)))
  const d = x[0]!.length
  const mean = new Array<number>(d).fill(0)
  for (const r of x) for (let j = 0; j < d; j++) mean[j]! += r[j]! / x.length
  const xc = x.map((r) => r.map((v, j) => v - mean[j]!))
  // Nonzero eigenvalues of Xc^T Xc equal those of the small Gram matrix Xc Xc^T.
  const gram = xc.map((a) => xc.map((b) => a.reduce((s, v, j) => s + v * b[j]!, 0)))
  const eig = jacobiEigenvalues(gram)
  const trace = eig.reduce((a, b) => a + Math.max(0, b), 0)
  assert.ok(Math.abs(map.explainedVariance[0]! - eig[0]! / trace) < 1e-3, `${map.explainedVariance[0]} vs ${eig[0]! / trace}`)
  assert.ok(Math.abs(map.explainedVariance[1]! - eig[1]! / trace) < 1e-3, `${map.explainedVariance[1]} vs ${eig[1]! / trace}`)
  // The projected coordinates carry exactly those variances.
  const ssx = map.points.reduce((a, p) => a + p.x * p.x, 0)
  const ssy = map.points.reduce((a, p) => a + p.y * p.y, 0)
  assert.ok(Math.abs(ssx / eig[0]! - 1) < 1e-3)
  assert.ok(Math.abs(ssy / eig[1]! - 1) < 1e-3)
})

test('review by keyboard actions: accept, keep, relabel, exclude, undo; the log keeps who and when', async () => {
  const flagged = ((await svc.call('querySamples', { flagged: true, limit: 3 })) as { items: any[] }).items
  assert.ok(flagged.length >= 2, 'the demo has flagged samples')
  const [a, b] = flagged
  const acc = (await svc.call('review', { sampleId: a.id, action: 'accept', reviewer: 'Ana' })) as any
  assert.equal(acc.sample.status, 'accepted')
  assert.equal(acc.sample.final, a.refined)
  assert.equal(acc.event.reviewer, 'Ana')
  assert.equal(acc.event.runId, runId)
  const rel = (await svc.call('review', { sampleId: b.id, action: 'relabel', classIdx: 4, reviewer: 'Ana' })) as any
  assert.equal(rel.sample.status, 'relabelled')
  assert.equal(rel.sample.final, 4)
  const exc = (await svc.call('review', { sampleId: b.id, action: 'exclude', reviewer: 'Ben' })) as any
  assert.equal(exc.sample.status, 'excluded')
  assert.equal(exc.sample.final, null)
  await rejectsWith(svc.call('review', { sampleId: b.id, action: 'relabel', classIdx: 99, reviewer: 'Ana' }), 'bad_request', /class index 99/)

  const prog = (await svc.call('reviewProgress', {})) as any
  assert.equal(prog.reviewed, 2)
  assert.equal(prog.byStatus.accepted, 1)
  assert.equal(prog.byStatus.excluded, 1)

  // Undo is per reviewer: Ana's latest decision (the relabel) goes; Ben's exclude stays.
  const u = (await svc.call('undo', { reviewer: 'Ana' })) as any
  assert.equal(u.undone.action, 'undo')
  assert.equal(u.undone.sampleId, b.id)
  assert.equal(u.sample.status, 'excluded')
  const u2 = (await svc.call('undo', { reviewer: 'Ben' })) as any
  assert.equal(u2.sample.status, 'unreviewed', 'the relabel was undone, so nothing stands')
  const hist = ((await svc.call('getSample', { sampleId: b.id, neighbours: 0 })) as any).history
  assert.deepEqual(
    hist.map((e: any) => `${e.reviewer}:${e.action}`),
    ['Ana:relabel', 'Ben:exclude', 'Ana:undo', 'Ben:undo'],
  )
  assert.ok(hist.every((e: any) => !Number.isNaN(Date.parse(e.at))))

  const bulk = (await svc.call('bulkAccept', { sampleIds: flagged.map((s) => s.id).concat([987654]), reviewer: 'Ana' })) as any
  assert.equal(bulk.accepted, flagged.length)
  assert.equal(bulk.skipped, 1)
  // The database holds every event (append-only).
  const db = openDb(project.path, { create: false, readonly: true })
  const n = (db.prepare('SELECT count(*) AS n FROM review_events').get() as { n: number }).n
  db.close()
  assert.equal(n, 5 + flagged.length)
})

test('export: preview counts match the written CSV; never overwrites without force', async () => {
  const preview = (await svc.call('exportPreview', {})) as any
  assert.equal(preview.total, 30)
  assert.equal(preview.included + preview.excluded, 30)
  const out = join(dir, 'labels.csv')
  const res = await finished(await svc.call('exportLabels', { format: 'csv', out }))
  assert.equal(res.written, preview.included)
  const lines = readFileSync(out, 'utf8').trim().split(/\r?\n/)
  assert.equal(lines.length, preview.included + 1)
  assert.match(lines[0]!, /^path,given_label,refined_label,confidence,flagged/)
  await rejectsWith(svc.call('exportLabels', { format: 'csv', out }), 'conflict', /already exists/)
  const again = await finished(await svc.call('exportLabels', { format: 'csv', out, force: true }))
  assert.equal(again.written, preview.included)
  const reviewedOnly = (await svc.call('exportPreview', { onlyReviewed: true })) as any
  assert.ok(reviewedOnly.included < preview.included)
})

test('validation sweep: a job whose cells, summary and HTML report come back through the contract', async () => {
  const v = await finished(
    await svc.call('startValidation', { noiseTypes: ['symmetric'], rates: [0.2], seeds: [0], methods: ['teacher'], lambda: 0.01 }),
  )
  const list = (await svc.call('listValidations', {})) as { validations: { id: number; status: string }[] }
  assert.equal(list.validations[0]?.id, v.validationId)
  assert.equal(list.validations[0]?.status, 'done')
  const got = (await svc.call('getValidation', { validationId: v.validationId })) as any
  assert.equal(got.cells.length, 1)
  assert.equal(got.cells[0].method, 'teacher')
  assert.equal(got.cells[0].rate, 0.2)
  const acc = got.cells[0].metrics.trustedAccuracy
  assert.ok(acc >= 0 && acc <= 1, `trustedAccuracy ${acc}`)
  // The whole answer passes the contract's schema, and the summary is the engine's (the mean and
  // spread over seeds that validate.ts computed and stored), not something the UI must recompute.
  const detail = ValidationDetail.parse(got)
  assert.equal(detail.complete, true)
  assert.equal(detail.error, null)
  assert.equal(detail.cells[0]!.error, null)
  assert.equal(detail.cells[0]!.identifiable, true, 'symmetric 0.2 on five classes is identifiable')
  assert.deepEqual(detail.noiseModels, [{ noiseType: 'symmetric', rate: 0.2, identifiable: true }])
  const db = openDb(project.path, { create: false, readonly: true })
  const stored = getValidation(db, v.validationId)!.results as ValidationResult
  db.close()
  assert.deepEqual(detail.summary, summarize(stored.cells))
  assert.equal(detail.summary.length, 1)
  assert.equal(detail.summary[0]!.n, 1)
  assert.equal(detail.summary[0]!.mean.trustedAccuracy, acc)
  assert.equal(detail.summary[0]!.std.trustedAccuracy, 0, 'one seed: no spread')
  assert.deepEqual(detail.best, [{ noiseType: 'symmetric', rate: 0.2, method: 'teacher', trustedAccuracy: acc }])
  // The contract refuses what the engine refuses (one set of limits).
  await rejectsWith(
    svc.call('startValidation', { noiseTypes: ['symmetric'], rates: [VALIDATION_LIMITS.maxRate + 0.01], seeds: [0], methods: ['teacher'] }),
    'bad_request',
    /rates/,
  )
  const html = (await svc.call('validationReport', { validationId: v.validationId })) as { mime: string; content: string; filename: string }
  assert.equal(html.mime, 'text/html')
  assert.match(html.content, /<html/i)
  const csv = (await svc.call('validationReport', { validationId: v.validationId, format: 'csv' })) as { content: string }
  assert.ok(csv.content.split('\n').length >= 2)
  await rejectsWith(svc.call('getValidation', { validationId: 999 }), 'not_found')
  // Resuming a finished sweep runs nothing and returns the same validation.
  const resumed = await finished(await svc.call('resumeValidation', { validationId: v.validationId }))
  assert.equal(resumed.validationId, v.validationId)
  await rejectsWith(svc.call('resumeValidation', { validationId: 999 }), 'not_found')
})

test('validation sweep with a review simulation: the curves summarised over seeds come back through the contract', async () => {
  const v = await finished(
    await svc.call('startValidation', {
      noiseTypes: ['symmetric'],
      rates: [0.3],
      seeds: [0],
      methods: ['teacher'],
      lambda: 0.01,
      review: { batch: 5, budget: 10 },
    }),
  )
  const detail = ValidationDetail.parse(await svc.call('getValidation', { validationId: v.validationId }))
  const db = openDb(project.path, { create: false, readonly: true })
  const stored = getValidation(db, v.validationId)!.results as ValidationResult
  db.close()
  assert.equal(stored.reviewSims?.length, 1)
  assert.deepEqual(detail.review, stored.reviewSummary)
  assert.deepEqual(
    detail.review!.map((r) => r.strategy),
    ['feedback', 'static', 'uncertain', 'cl'],
  )
  for (const r of detail.review!) assert.equal(r.reviews[0], 0)
  const html = (await svc.call('validationReport', { validationId: v.validationId })) as { content: string }
  assert.match(html.content, /How many images do we have to look at/)
  await rejectsWith(
    svc.call('startValidation', { noiseTypes: ['symmetric'], rates: [0.3], seeds: [0], methods: ['teacher'], review: { batch: 0, budget: 10 } }),
    'bad_request',
    /batch/,
  )
})

test('images: only registered samples, thumbnails cached as JPEG', async () => {
  const id = ((await svc.call('querySamples', { limit: 1 })) as { items: any[] }).items[0].id
  const file = svc.imagePath(id)
  assert.ok(file && existsSync(file))
  const thumb = await svc.image(id, 'thumb')
  assert.equal(thumb?.mime, 'image/jpeg')
  assert.ok(thumb && existsSync(thumb.file) && thumb.file.startsWith(join(dir, 'data')))
  assert.equal((await svc.image(id, 'full'))?.file, file)
  assert.equal(svc.imagePath(123456), undefined)
  assert.equal(await svc.image(123456, 'thumb'), undefined)
  assert.equal(svc.imagePath(-1), undefined)
})

test('closing the project', async () => {
  assert.deepEqual(await svc.call('closeProject', {}), { closed: true })
  assert.equal(svc.imagePath(1), undefined)
  await rejectsWith(svc.call('querySamples', {}), 'no_project')
  const reopened = (await svc.call('openProject', { path: project.path })) as ProjectInfo
  assert.equal(reopened.samples, 30)
  assert.equal(reopened.runs, 2) // the demo's auto run and the PLL run
  await rejectsWith(svc.call('createProject', { path: project.path }), 'conflict')
})
