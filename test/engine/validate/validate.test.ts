import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDb, ensureClass, vecToBlob, now, type Db } from '../../../electron/engine/store/db.ts'
import { CancelledError } from '../../../electron/engine/jobs/progress.ts'
import {
  runValidation,
  validateProject,
  planCells,
  type RefineFn,
  type ValidationConfig,
  type ValidationInput,
  type ValidationResult,
} from '../../../electron/engine/validate/validate.ts'
import { injectNoise } from '../../../electron/engine/validate/noise.ts'
import type { FeatureMatrix } from '../../../electron/engine/train/types.ts'
import { refineArrays } from '../../../electron/engine/train/refine.ts'
import { gaussianClusters, standInRefine } from './helpers.ts'
import { VALIDATION_LIMITS, ValidationConfig as ContractValidationConfig } from '../../../shared/contract.ts'

// Small fixed lambda: automatic selection is the engine's business (tested there) and costs folds.
const REAL = { lambda: 1e-3 } as const

const K = 4
const D = 6
const NAMES = ['ok', 'scratch', 'dent', 'stain']

function makeInput(withTruth = false): ValidationInput {
  const tr = gaussianClusters(320, K, D, 1)
  const te = gaussianClusters(160, K, D, 2, tr.centres)
  return {
    train: { x: tr.x, yGiven: tr.y, ...(withTruth ? { yTrue: tr.y } : {}) },
    trusted: { x: te.x, y: te.y },
    classNames: NAMES,
  }
}

const base: ValidationConfig = {
  noiseTypes: ['symmetric', 'asymmetric', 'superclass'],
  rates: [0.2, 0.6],
  seeds: [0, 1],
  methods: ['teacher', 'sd', 'pll'],
  sdRounds: 2,
  groups: [
    [0, 1],
    [2, 3],
  ],
}

test('a sweep yields one cell per noise type x rate x seed x method, with metrics consistent with the confusion matrices', async () => {
  const input = makeInput()
  const r = await runValidation(input, base, { refine: standInRefine })
  assert.equal(r.complete, true)
  assert.equal(r.cells.length, 3 * 2 * 2 * 4) // teacher, sd-1, sd-2, pll
  assert.deepEqual([...new Set(r.cells.map((c) => c.method))], ['teacher', 'sd-1', 'sd-2', 'pll'])
  for (const c of r.cells) {
    assert.equal(c.error, undefined)
    const m = c.metrics
    // trusted accuracy = trace of the trusted confusion matrix / n
    const ct = c.confusionTrusted!
    const trace = ct.reduce((s, row, i) => s + row[i]!, 0)
    assert.equal(m.trustedAccuracy, trace / input.trusted.x.n)
    // recovery = trace of the training confusion (true x refined) / n
    const cm = c.confusionTrain!
    assert.equal(
      cm.flat().reduce((a, b) => a + b, 0),
      input.train.x.n,
    )
    assert.equal(m.recovery, cm.reduce((s, row, i) => s + row[i]!, 0) / input.train.x.n)
    // the injected rate is what the noise draw actually produced (recomputed independently)
    const noisy = injectNoise(input.train.yGiven, K, { type: c.noiseType as 'symmetric', rate: c.rate, seed: c.seed, groups: base.groups })
    let wrong = 0
    for (let i = 0; i < noisy.length; i++) if (noisy[i] !== input.train.yGiven[i]) wrong++
    assert.equal(m.noiseRate, wrong / noisy.length)
    assert.ok(Math.abs(m.noiseRate! - c.rate) < 0.1, `${c.key}: injected ${m.noiseRate}`)
    assert.ok(Math.abs(m.givenAccuracy! - (1 - m.noiseRate!)) < 1e-12)
    assert.ok(m.flaggedPrecision! >= 0 && m.flaggedPrecision! <= 1)
    assert.ok(m.flaggedRecall! >= 0 && m.flaggedRecall! <= 1)
    assert.ok(m.seconds! >= 0)
    assert.equal(typeof c.identifiable, 'boolean')
  }
  // the stand-in is a reasonable classifier: it beats the noisy labels at 0.2 symmetric noise
  const t02 = r.cells.find((c) => c.key === 'symmetric|0.2|0|teacher')!
  assert.ok(t02.metrics.recovery! > t02.metrics.givenAccuracy!)
  // superclass 0.6 inside pairs: the wrong partner (0.6) beats the right label (0.4)
  assert.equal(r.noiseModels.find((m) => m.noiseType === 'superclass' && m.rate === 0.6)!.identifiable, false)
  assert.equal(r.noiseModels.find((m) => m.noiseType === 'superclass' && m.rate === 0.2)!.identifiable, true)
  assert.deepEqual(r.groups, [
    [0, 1],
    [2, 3],
  ])
})

test('summary is the mean and sample std over seeds; best picks the highest mean trusted accuracy', async () => {
  const events: { done: number; total: number }[] = []
  const r = await runValidation(
    makeInput(),
    { ...base, seeds: [0, 1, 2], noiseTypes: ['symmetric'] },
    { refine: standInRefine, progress: (e) => events.push(e) },
  )
  // progress counts cells and ends at the total
  assert.ok(events.every((e, i) => e.total === r.cells.length && (i === 0 || e.done >= events[i - 1]!.done)))
  assert.equal(events.at(-1)!.done, r.cells.length)
  for (const s of r.summary) {
    const vals = r.cells
      .filter((c) => c.noiseType === s.noiseType && c.rate === s.rate && c.method === s.method)
      .map((c) => c.metrics.trustedAccuracy!)
    assert.equal(vals.length, 3)
    const mu = (vals[0]! + vals[1]! + vals[2]!) / 3
    const sd = Math.sqrt(vals.reduce((a, v) => a + (v - mu) ** 2, 0) / 2)
    assert.ok(Math.abs(s.mean.trustedAccuracy! - mu) < 1e-12)
    assert.ok(Math.abs(s.std.trustedAccuracy! - sd) < 1e-12)
  }
  for (const b of r.best) {
    const rows = r.summary.filter((s) => s.noiseType === b.noiseType && s.rate === b.rate)
    assert.equal(b.trustedAccuracy, Math.max(...rows.map((s) => s.mean.trustedAccuracy!)))
  }
})

test('the trusted split is never passed to training', async () => {
  const input = makeInput()
  const seen: FeatureMatrix[] = []
  const spy: RefineFn = async (x, y, k, opts) => {
    seen.push(x)
    return standInRefine(x, y, k, opts)
  }
  await runValidation(input, { ...base, noiseTypes: ['none', 'symmetric'], rates: [0.3], seeds: [0] }, { refine: spy })
  assert.ok(seen.length > 0)
  const trustedRows = new Set<string>()
  for (let i = 0; i < input.trusted.x.n; i++) trustedRows.add(input.trusted.x.data.subarray(i * D, (i + 1) * D).join(','))
  for (const x of seen) {
    assert.equal(x.n, input.train.x.n)
    for (let i = 0; i < x.n; i++) assert.ok(!trustedRows.has(x.data.subarray(i * D, (i + 1) * D).join(',')), `trusted row ${i} was trained on`)
  }
})

test("noise type 'none' trains on the given labels as they are; recovery only when the truth is known", async () => {
  const input = makeInput()
  const noisyGiven = injectNoise(input.train.yGiven, K, { type: 'symmetric', rate: 0.3, seed: 9 })
  const ys: Int32Array[] = []
  const spy: RefineFn = async (x, y, k, opts) => {
    ys.push(y)
    return standInRefine(x, y, k, opts)
  }
  const cfg: ValidationConfig = { noiseTypes: ['none'], rates: [0.5, 0.8], seeds: [0], methods: ['teacher'] }
  const blind = await runValidation({ ...input, train: { x: input.train.x, yGiven: noisyGiven } }, cfg, { refine: spy })
  assert.equal(blind.cells.length, 1) // rates do not apply to 'none'
  assert.deepEqual(ys[0], noisyGiven)
  const m = blind.cells[0]!.metrics
  assert.equal(m.recovery, undefined)
  assert.equal(m.flaggedPrecision, undefined)
  assert.ok(m.trustedAccuracy! > 0.5)
  assert.equal(blind.cells[0]!.identifiable, null)
  const known = await runValidation({ ...input, train: { x: input.train.x, yGiven: noisyGiven, yTrue: input.train.yGiven } }, cfg, {
    refine: standInRefine,
  })
  assert.ok(Math.abs(known.cells[0]!.metrics.noiseRate! - 0.3) < 0.08)
  assert.ok(known.cells[0]!.metrics.recovery! > 0.5)
})

test('a failing method is recorded as an error cell and the sweep goes on', async () => {
  const failing: RefineFn = async (x, y, k, opts) => {
    if (opts.method === 'cl') throw new Error('cl exploded')
    return standInRefine(x, y, k, opts)
  }
  const r = await runValidation(makeInput(), { noiseTypes: ['symmetric'], rates: [0.2], seeds: [0], methods: ['cl', 'teacher'] }, { refine: failing })
  assert.equal(r.cells.length, 2)
  assert.equal(r.cells[0]!.error, 'cl exploded')
  assert.equal(r.cells[1]!.error, undefined)
  assert.deepEqual(
    r.summary.map((s) => s.method),
    ['teacher'],
  )
})

test('bad configurations and inputs give clear errors', async () => {
  const input = makeInput()
  await assert.rejects(runValidation(input, { ...base, noiseTypes: ['gaussian' as 'none'] }), /unknown noise type 'gaussian'/)
  await assert.rejects(runValidation(input, { ...base, rates: [1.5] }), /rate 1.5 is outside/)
  await assert.rejects(runValidation(input, { ...base, methods: [] }), /methods is empty/)
  const bad = { ...input, trusted: { x: input.trusted.x, y: new Int32Array(input.trusted.x.n).fill(7) } }
  await assert.rejects(runValidation(bad, base, { refine: standInRefine }), /trusted labels: label 7 of sample 0/)
})

test('the engine and the contract accept and refuse the same configs (one set of limits, shared/contract.ts)', async () => {
  const input = makeInput()
  const { maxRate, maxSdRounds } = VALIDATION_LIMITS
  const small: ValidationConfig = { noiseTypes: ['symmetric'], rates: [0.2], seeds: [0], methods: ['teacher'] }
  const cases: { config: ValidationConfig; ok: boolean }[] = [
    { config: { ...small, rates: [0, maxRate] }, ok: true },
    { config: { ...small, rates: [maxRate + 0.01] }, ok: false },
    { config: { ...small, rates: [-0.1] }, ok: false },
    { config: { ...small, methods: ['sd'], sdRounds: maxSdRounds }, ok: true },
    { config: { ...small, methods: ['sd'], sdRounds: maxSdRounds + 1 }, ok: false },
    { config: { ...small, sdRounds: 0 }, ok: false },
    { config: { ...small, seeds: [1.5] }, ok: false },
    { config: { ...small, seeds: [] }, ok: false },
    { config: { ...small, noiseTypes: ['none'], rates: [] }, ok: true },
    { config: { ...small, rates: [] }, ok: false },
    { config: { ...small, noiseTypes: [] }, ok: false },
  ]
  for (const { config, ok } of cases) {
    const what = JSON.stringify(config)
    assert.equal(ContractValidationConfig.safeParse(config).success, ok, `contract: ${what}`)
    const engine = runValidation(input, config, { refine: standInRefine })
    if (ok) await assert.doesNotReject(engine, what)
    else await assert.rejects(engine, /validation config:/, what)
  }
})

test('cancel between cells keeps the finished cells; resuming runs only the rest and matches a full run', async () => {
  const input = makeInput()
  const cfg: ValidationConfig = { noiseTypes: ['symmetric'], rates: [0.2, 0.5], seeds: [0], methods: ['teacher', 'pll'] }
  const full = await runValidation(input, cfg, { refine: standInRefine })
  const ac = new AbortController()
  const kept: ValidationResult[] = []
  await assert.rejects(
    runValidation(input, cfg, {
      refine: standInRefine,
      signal: ac.signal,
      onCell: (_c, partial) => {
        kept.push(structuredClone(partial))
        if (partial.cells.length === 2) ac.abort()
      },
    }),
    CancelledError,
  )
  const partial = kept.at(-1)!
  assert.equal(partial.cells.length, 2)
  let calls = 0
  const counting: RefineFn = async (...a) => {
    calls++
    return standInRefine(...a)
  }
  const resumed = await runValidation(input, cfg, { refine: counting, done: partial.cells })
  assert.equal(calls, planCells(cfg).length - 2)
  const strip = (r: ValidationResult) => r.cells.map((c) => ({ ...c, metrics: { ...c.metrics, seconds: 0 } }))
  assert.deepEqual(strip(resumed), strip(full))
})

// --- project level ------------------------------------------------------------------------------

function makeProject(dir: string, opts: { trustedCol?: boolean; testSplit?: boolean } = {}): { db: Db; file: string } {
  const file = join(dir, 'project.qc')
  const db = openDb(file)
  const tr = gaussianClusters(200, K, D, 3)
  const te = gaussianClusters(80, K, D, 4, tr.centres)
  db.transaction(() => {
    const classIds = NAMES.map((n) => ensureClass(db, n))
    const src = Number(db.prepare("INSERT INTO sources (kind, root, added_at) VALUES ('embeddings', '/x.npy', ?)").run(now()).lastInsertRowid)
    const bb = Number(
      db.prepare("INSERT INTO backbones (name, kind, dim, created_at) VALUES ('emb', 'embeddings', ?, ?)").run(D, now()).lastInsertRowid,
    )
    const addS = db.prepare(
      'INSERT INTO samples (source_id, path, hash, split, given_class_id, trusted_class_id, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    )
    const addF = db.prepare('INSERT INTO features (hash, backbone_id, vec) VALUES (?, ?, ?)')
    const add = (m: { x: FeatureMatrix; y: Int32Array }, split: string, i: number, trusted: boolean) => {
      const hash = `${split}-${i}`
      addS.run(src, hash, hash, split, classIds[m.y[i]!], trusted ? classIds[m.y[i]!] : null, now())
      addF.run(hash, bb, vecToBlob(m.x.data.slice(i * D, (i + 1) * D)))
    }
    // every 5th training sample carries a trusted label when asked
    for (let i = 0; i < tr.x.n; i++) add(tr, 'train', i, opts.trustedCol === true && i % 5 === 0)
    if (opts.testSplit) for (let i = 0; i < te.x.n; i++) add(te, 'test', i, false)
  })()
  return { db, file }
}

test('validateProject stores the sweep; trusted-label samples are excluded from training', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-validate-'))
  try {
    const { db } = makeProject(dir, { trustedCol: true, testSplit: true })
    let trainN = -1
    const spy: RefineFn = async (x, y, k, o) => {
      trainN = x.n
      return refineArrays(x, y, k, o)
    }
    const cfg: ValidationConfig = { noiseTypes: ['symmetric'], rates: [0.3], seeds: [0, 1], methods: ['teacher'], refineOptions: REAL }
    const { validationId, result } = await validateProject(db, cfg, { refine: spy })
    assert.equal(trainN, 160) // 200 - 40 trusted
    assert.equal(result.meta.nTrusted, 40) // trusted labels win over the test split
    assert.equal(result.meta.nTrain, 160)
    assert.deepEqual(result.classNames, NAMES)
    const row = db.prepare('SELECT status, results, params, finished_at FROM validations WHERE id = ?').get(validationId) as {
      status: string
      results: string
      params: string
      finished_at: string | null
    }
    assert.equal(row.status, 'done')
    assert.ok(row.finished_at)
    assert.deepEqual(JSON.parse(row.results), JSON.parse(JSON.stringify(result)))
    assert.equal(JSON.parse(row.params).config.noiseTypes[0], 'symmetric')
    // the real engine cleans most of the injected noise on well-separated clusters
    for (const c of result.cells) assert.ok(c.metrics.recovery! > c.metrics.givenAccuracy! + 0.1, `${c.key}: ${JSON.stringify(c.metrics)}`)
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('validateProject: test split as trusted fallback; clear error without any trusted split', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-validate-'))
  try {
    const a = makeProject(join(dir, 'a'), { testSplit: true })
    const { result } = await validateProject(a.db, { noiseTypes: ['none'], rates: [], seeds: [0], methods: ['teacher'] }, { refine: standInRefine })
    assert.equal(result.meta.nTrusted, 80)
    assert.match(String(result.meta.trustedSource), /test split/)
    a.db.close()
    const b = makeProject(join(dir, 'b'))
    await assert.rejects(
      validateProject(b.db, { noiseTypes: ['none'], rates: [], seeds: [0], methods: ['teacher'] }, { refine: standInRefine }),
      /no trusted split: import a test split or trusted_label column/,
    )
    const row = b.db.prepare('SELECT status, results FROM validations ORDER BY id DESC').get() as { status: string; results: string }
    assert.equal(row.status, 'failed')
    assert.match(JSON.parse(row.results).error, /no trusted split/)
    b.db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('validateProject: a cancelled sweep keeps its finished cells and resumes from there by id', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-validate-'))
  try {
    const { db, file } = makeProject(dir, { testSplit: true })
    const cfg: ValidationConfig = { noiseTypes: ['symmetric', 'asymmetric'], rates: [0.2, 0.4], seeds: [0], methods: ['teacher'] }
    const ac = new AbortController()
    let calls = 0
    // Cancel once the third cell's training is done: the sweep stops before the fourth.
    const stopAfter3: RefineFn = async (...a) => {
      const r = await refineArrays(...a)
      if (++calls === 3) ac.abort()
      return r
    }
    await assert.rejects(validateProject(db, { ...cfg, refineOptions: REAL }, { refine: stopAfter3, signal: ac.signal }), CancelledError)
    db.close()
    // a fresh connection, as after a restart
    const db2 = openDb(file)
    const row = db2.prepare('SELECT id, status, results FROM validations').get() as { id: number; status: string; results: string }
    assert.equal(row.status, 'cancelled')
    const stored = JSON.parse(row.results) as ValidationResult
    assert.equal(stored.cells.length, 3)
    assert.equal(stored.complete, false)
    let more = 0
    const counting: RefineFn = async (...a) => {
      more++
      return refineArrays(...a)
    }
    // the config passed on resume is ignored in favour of the stored one
    const { validationId, result } = await validateProject(db2, { ...cfg, seeds: [5, 6] }, { refine: counting, validationId: row.id })
    assert.equal(validationId, row.id)
    assert.equal(more, 1)
    assert.equal(result.cells.length, 4)
    assert.deepEqual(result.cells.slice(0, 3), stored.cells)
    assert.equal(result.complete, true)
    for (const c of result.cells) assert.ok(!c.error && c.metrics.trustedAccuracy! > 0.6, `${c.key}: ${c.error ?? JSON.stringify(c.metrics)}`) // chance: 0.25
    assert.equal((db2.prepare('SELECT status FROM validations WHERE id = ?').get(row.id) as { status: string }).status, 'done')
    db2.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('real engine: every method runs, cleans symmetric noise, and is scored on the trusted split', async () => {
  const input = makeInput()
  const r = await runValidation(input, {
    noiseTypes: ['symmetric', 'superclass'],
    rates: [0.4],
    seeds: [0],
    methods: ['teacher', 'sd', 'pll', 'cl'],
    sdRounds: 2,
    groups: [[0, 1, 2], [3]],
    refineOptions: REAL,
  })
  assert.deepEqual(
    r.cells.map((c) => c.method),
    ['teacher', 'sd-1', 'sd-2', 'pll', 'cl', 'teacher', 'sd-1', 'sd-2', 'pll', 'cl'],
  )
  for (const c of r.cells) {
    assert.equal(c.error, undefined, `${c.key}: ${c.error}`)
    assert.equal(c.chosen.lambda, 1e-3)
    // Chance is 0.25; the clusters are well separated, so every method should do far better and
    // leave fewer wrong labels than it was given.
    assert.ok(c.metrics.trustedAccuracy! > 0.6, `${c.key}: ${JSON.stringify(c.metrics)}`)
    assert.ok(c.metrics.recovery! > c.metrics.givenAccuracy!, `${c.key}: ${JSON.stringify(c.metrics)}`)
    assert.ok(c.metrics.flaggedPrecision! > 0.5, `${c.key}: ${JSON.stringify(c.metrics)}`)
  }
  assert.equal(r.cells.find((c) => c.method === 'sd-2')!.chosen.rounds, 2)
  // confident learning's noise estimate is kept, and is in the neighbourhood of what was injected
  for (const c of r.cells.filter((x) => x.method === 'cl')) {
    const est = c.metrics.estimatedNoiseRate!
    assert.ok(Math.abs(est - c.metrics.noiseRate!) < 0.15, `${c.key}: estimated ${est}, injected ${c.metrics.noiseRate}`)
  }
  assert.ok(r.cells.filter((x) => x.method !== 'cl').every((c) => c.metrics.estimatedNoiseRate === undefined))
  assert.equal(r.complete, true)
})

test('validateProject: by default it uses the newest backbone that covers the training samples', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-validate-'))
  try {
    const { db } = makeProject(dir, { testSplit: true })
    // A newer backbone with features for the test samples only (e.g. a second embeddings file).
    db.transaction(() => {
      const bb = Number(
        db.prepare("INSERT INTO backbones (name, kind, dim, created_at) VALUES ('test-only', 'embeddings', ?, ?)").run(D, now()).lastInsertRowid,
      )
      db.prepare(
        "INSERT INTO features (hash, backbone_id, vec) SELECT f.hash, ?, f.vec FROM features f JOIN samples s ON s.hash = f.hash WHERE s.split = 'test'",
      ).run(bb)
    })()
    const { result } = await validateProject(db, { noiseTypes: ['none'], rates: [], seeds: [0], methods: ['teacher'] }, { refine: standInRefine })
    assert.equal(result.meta.backbone, `emb (embeddings, ${D}-d)`)
    assert.equal(result.meta.nTrain, 200)
    assert.equal(result.config.backboneId, 1)
    // Naming the test-only backbone says what is missing.
    await assert.rejects(
      validateProject(db, { noiseTypes: ['none'], rates: [], seeds: [0], methods: ['teacher'], backboneId: 2 }, { refine: standInRefine }),
      /no training samples with a given label have features from backbone 2 \(test-only\)/,
    )
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
