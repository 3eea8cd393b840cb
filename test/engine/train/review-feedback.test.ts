import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { importEmbeddings } from '../../../electron/engine/import/embeddings.ts'
import { recordDecision } from '../../../electron/engine/review/review.ts'
import { openDb, type Db } from '../../../electron/engine/store/db.ts'
import { reviewEvents } from '../../../electron/engine/store/reviews.ts'
import { runSuggestions } from '../../../electron/engine/store/runs.ts'
import { noiseEstimate } from '../../../electron/engine/store/read-model.ts'
import { listSamples } from '../../../electron/engine/store/samples.ts'
import { refineProject } from '../../../electron/engine/train/project.ts'
import { refine } from '../../../electron/engine/usecases/refine.ts'
import { refreshSuggestions } from '../../../electron/engine/usecases/refresh.ts'
import { answerAudit, auditItems, startAudit } from '../../../electron/engine/usecases/audit.ts'
import { writeNpy } from '../../../electron/engine/util/npy.ts'
import { createRng } from '../../../electron/engine/util/rng.ts'
import { tempDir } from '../import/fixtures.ts'

const CLASSES = ['ok', 'scratch', 'dent', 'stain']

/**
 * A project of 1200 embedded samples in 4 classes (Gaussian clusters in 16-d) whose inspector
 * mislabels look-alike pairs: 40% of scratches are labelled ok and 40% of stains dent, the kind of
 * systematic confusion a model trained on the given labels partly learns.
 */
async function project(): Promise<{ db: Db; truth: Map<number, number>; idx: (name: string) => number }> {
  const dir = tempDir('qc-feedback-')
  const rng = createRng(21)
  const n = 1200
  const d = 16
  const centres = CLASSES.map(() => Array.from({ length: d }, () => 1.1 * rng.normal()))
  const data = new Float32Array(n * d)
  const rows: string[] = ['id,label']
  const truthById = new Map<string, number>()
  for (let i = 0; i < n; i++) {
    const c = i % 4
    for (let j = 0; j < d; j++) data[i * d + j] = centres[c]![j]! + rng.normal()
    let given = c
    if (c === 1 && rng.next() < 0.4) given = 0
    if (c === 3 && rng.next() < 0.4) given = 2
    rows.push(`s${i},${CLASSES[given]}`)
    truthById.set(`s${i}`, c)
  }
  writeNpy(join(dir, 'x.npy'), data, [n, d])
  writeFileSync(join(dir, 'labels.csv'), rows.join('\n') + '\n')
  const db = openDb(join(dir, 'p.qcdb'))
  await importEmbeddings(db, join(dir, 'x.npy'), join(dir, 'labels.csv'))
  const idx = (name: string) => (db.prepare('SELECT idx FROM classes WHERE name = ?').get(name) as { idx: number }).idx
  const truth = new Map<number, number>()
  for (const s of listSamples(db)) truth.set(s.id, idx(CLASSES[truthById.get(s.path)!]!))
  return { db, truth, idx }
}

test('review decisions teach the model: reviewed samples are clamped, the other suggestions get better, nothing the reviewer decided is changed', async () => {
  const { db, truth } = await project()
  try {
    const opts = { method: 'teacher' as const, lambda: 1e-2, seed: 1 }
    const before = await refineProject(db, opts)
    const ids = Array.from(before.result.refined.keys()).map((r) => r)
    // Training rows are in sample-id order (features loaded by sample id).
    const sampleIds = listSamples(db).map((s) => s.id)
    assert.equal(before.result.n, sampleIds.length)
    const correctOn = (refined: Int32Array, skip: Set<number>) => {
      let ok = 0
      let all = 0
      for (const r of ids) {
        const id = sampleIds[r]!
        if (skip.has(id)) continue
        all++
        if (refined[r] === truth.get(id)) ok++
      }
      return { ok, all }
    }
    // An inspector reviews the 150 top-ranked flagged samples and a batch of unflagged ones (the
    // systematic confusions the model copied are not flagged), answering with the true class.
    const flaggedOrder = ids.filter((r) => before.result.flagged[r]).sort((a, b) => before.result.rank[a]! - before.result.rank[b]!)
    const unflagged = ids.filter((r) => !before.result.flagged[r])
    const reviewedRows = [...flaggedOrder.slice(0, 150), ...unflagged.filter((_, i) => i % 8 === 0)]
    const reviewed = new Set<number>()
    for (const r of reviewedRows) {
      const id = sampleIds[r]!
      reviewed.add(id)
      recordDecision(db, { sampleId: id, action: 'relabel', classIdx: truth.get(id)!, reviewer: 'ana' })
    }
    // One flagged sample whose given label is wrong is excluded: left out of training, and not
    // flagged again although the model still disagrees with its given label.
    const givenOf = new Map(listSamples(db).map((s) => [s.id, s.givenIdx]))
    const excludedRow = flaggedOrder.find((r) => !reviewed.has(sampleIds[r]!) && givenOf.get(sampleIds[r]!) !== truth.get(sampleIds[r]!))!
    recordDecision(db, { sampleId: sampleIds[excludedRow]!, action: 'exclude', reviewer: 'ana' })
    const skip = new Set([...reviewed, sampleIds[excludedRow]!])
    const eventsBefore = reviewEvents(db).length

    const without = await refineProject(db, opts)
    const withReviews = await refineProject(db, { ...opts, useReviews: true })
    assert.equal(reviewEvents(db).length, eventsBefore, 'a refinement never writes to the review log')
    assert.equal(withReviews.metrics.reviewedInTraining, reviewed.size)
    assert.equal(withReviews.metrics.excludedByReview, 1)
    assert.equal(withReviews.result.n, sampleIds.length - 1, 'the excluded sample is not trained on')
    assert.equal(withReviews.result.details.fixedRows, reviewed.size, 'the decisions are fixed targets in training (RefineOptions.fixedRows)')
    assert.equal(without.result.details.fixedRows, undefined)
    const excludedPred = db
      .prepare('SELECT flagged, refined_idx AS refined FROM predictions WHERE run_id = ? AND sample_id = ?')
      .get(withReviews.runId, sampleIds[excludedRow]!) as { flagged: number; refined: number }
    assert.notEqual(excludedPred.refined, givenOf.get(sampleIds[excludedRow]!), 'the model still disagrees with its given label')
    assert.equal(excludedPred.flagged, 0, 'an excluded sample gets a prediction but is not flagged again')

    // Rows of the with-reviews run, by sample id (one fewer row: the excluded sample).
    const rowOf = new Map<number, number>()
    let r2 = 0
    for (let r = 0; r < sampleIds.length; r++) if (r !== excludedRow) rowOf.set(sampleIds[r]!, r2++)
    for (const id of reviewed) {
      const r = rowOf.get(id)!
      assert.equal(withReviews.result.refined[r], truth.get(id), 'a reviewed sample keeps the decision as its refined label')
      assert.equal(withReviews.result.flagged[r], 0, 'a reviewed sample is not flagged again')
    }
    // On the samples nobody reviewed: more suggestions right with the reviews than without.
    const a = correctOn(without.result.refined, skip)
    const refinedById = new Int32Array(sampleIds.length).fill(-1)
    for (const [id, r] of rowOf) refinedById[sampleIds.indexOf(id)] = withReviews.result.refined[r]!
    const b = correctOn(refinedById, skip)
    assert.equal(a.all, b.all)
    assert.ok(b.ok > a.ok, `unreviewed suggestions right: ${b.ok} of ${b.all} with the reviews, ${a.ok} without`)
  } finally {
    db.close()
  }
})

test('the refine use case passes useReviews through and the run records it', async () => {
  const { db, truth } = await project()
  try {
    const s = listSamples(db)[5]!
    const wrong = (truth.get(s.id)! + 1) % 4
    recordDecision(db, { sampleId: s.id, action: 'relabel', classIdx: wrong, reviewer: 'bo' })
    const out = await refine(db, { method: 'teacher', lambda: 1e-2, useReviews: true })
    const row = db.prepare('SELECT params, metrics FROM runs WHERE id = ?').get(out.runId) as { params: string; metrics: string }
    assert.equal(JSON.parse(row.params).useReviews, true)
    assert.equal(JSON.parse(row.metrics).reviewedInTraining, 1)
    const pred = db.prepare('SELECT refined_idx AS refined, flagged FROM predictions WHERE run_id = ? AND sample_id = ?').get(out.runId, s.id) as {
      refined: number
      flagged: number
    }
    assert.deepEqual(pred, { refined: wrong, flagged: 0 }, 'the decision stands even where the model would disagree')
  } finally {
    db.close()
  }
})

test('refreshSuggestions keeps the last run’s method and lambda, trains on the decisions and counts the unreviewed suggestions it changed', async () => {
  const { db, truth } = await project()
  try {
    await assert.rejects(refreshSuggestions(db), /no finished refinement run/)
    const first = await refine(db, { method: 'auto', seed: 2 })
    const firstRun = runSuggestions(db, first.runId)
    const flagged = [...firstRun].filter(([, s]) => s.flagged).map(([id]) => id)
    for (const id of flagged.slice(0, 60)) recordDecision(db, { sampleId: id, action: 'relabel', classIdx: truth.get(id)!, reviewer: 'ana' })
    const r = await refreshSuggestions(db)
    assert.equal(r.fromRunId, first.runId)
    assert.equal(r.method, first.method)
    assert.equal(r.chosen.lambda, first.chosen.lambda)
    assert.equal(r.chosen.lambdaSource, 'fixed', 'no new search: the choice of the last run stands')
    assert.equal(r.reviewed, 60)
    // The changed count, recomputed independently from the two runs' predictions.
    const second = runSuggestions(db, r.runId)
    const decided = new Set(flagged.slice(0, 60))
    let changed = 0
    for (const [id, s] of second) {
      if (decided.has(id)) continue
      const b = firstRun.get(id)!
      if (b.refined !== s.refined || b.flagged !== s.flagged) changed++
    }
    assert.equal(r.changed, changed)
    assert.ok(r.changed > 0, 'sixty corrected look-alike labels change some other suggestions')
    for (const id of decided) assert.deepEqual(second.get(id), { refined: truth.get(id), flagged: false })
    assert.equal(r.decidedDuring, 0)

    // Two decisions made while an update trains: not in that run (it read the decisions when it
    // started), said so, and left out of its changed count; the next update trains on them.
    const late = [...second]
      .filter(([id, s]) => s.flagged && !decided.has(id))
      .map(([id]) => id)
      .slice(0, 2)
    assert.equal(late.length, 2)
    let made = false
    const r2 = await refreshSuggestions(
      db,
      {},
      {
        // After 'prepare' the run has read its training set and is fitting.
        progress: (p) => {
          if (made || p.phase === 'prepare') return
          made = true
          for (const id of late) recordDecision(db, { sampleId: id, action: 'relabel', classIdx: truth.get(id)!, reviewer: 'ana' })
        },
      },
    )
    assert.equal(r2.reviewed, 60, 'the run trained on the 60 decisions standing when it started')
    assert.equal(r2.decidedDuring, 2)
    const m2 = JSON.parse((db.prepare('SELECT metrics FROM runs WHERE id = ?').get(r2.runId) as { metrics: string }).metrics) as {
      reviewedInTraining: number
      excludedByReview: number
    }
    assert.equal(m2.reviewedInTraining + m2.excludedByReview, 60, 'the run itself says it trained on 60 decisions')
    const third = runSuggestions(db, r2.runId)
    let changed2 = 0
    for (const [id, s] of third) {
      if (decided.has(id) || late.includes(id)) continue
      const b = second.get(id)!
      if (b.refined !== s.refined || b.flagged !== s.flagged) changed2++
    }
    assert.equal(r2.changed, changed2)
    const r3 = await refreshSuggestions(db)
    assert.equal(r3.reviewed, 62)
    assert.equal(r3.decidedDuring, 0)
    for (const id of late) assert.deepEqual(runSuggestions(db, r3.runId).get(id), { refined: truth.get(id), flagged: false })
  } finally {
    db.close()
  }
})

test('answers of an audit of the whole dataset are selection’s clean rows: from 200 on the method is chosen by held-out accuracy on them', async () => {
  const { db, truth } = await project()
  try {
    const plain = await refine(db, { method: 'auto', seed: 3, useReviews: true })
    assert.equal(plain.selection?.reason.includes('audited samples'), false)
    const audit = startAudit(db, { stratum: 'all', precision: 0.05 })
    const items = auditItems(db, audit.id)
    assert.ok(items.length >= 200, `the audit drew ${items.length}`)
    answerAudit(
      db,
      audit.id,
      items.map((it) => ({ sampleId: it.sampleId, classIdx: truth.get(it.sampleId)!, auditor: 'cy' })),
    )
    const run = await refineProject(db, { method: 'auto', seed: 3, useReviews: true })
    assert.equal(run.metrics.auditedInTraining, items.length)
    const sel = run.result.details.selection as {
      reason: string
      winner: { candidate: string }
      clean: { rows: number; used: boolean; scores: { candidate: string; accuracy: number; behind: number; pairedSe: number }[] }
    }
    assert.equal(sel.clean.used, true)
    assert.ok(sel.clean.rows > 0.6 * items.length, `${sel.clean.rows} clean rows among the selection rows`)
    assert.match(sel.reason, /held-out accuracy on \d+ audited samples/)
    // The rule: the simplest candidate within one paired SE of the most accurate.
    const firstWithin = sel.clean.scores.find((c) => c.behind <= c.pairedSe)!
    assert.equal(sel.winner.candidate, firstWithin.candidate)
    // The scores are accuracies against the audited (true) labels: each at most 1, and the most
    // accurate well above the share of right given labels among the audited samples.
    let givenRight = 0
    const given = new Map(listSamples(db).map((s) => [s.id, s.givenIdx]))
    for (const it of items) if (given.get(it.sampleId) === truth.get(it.sampleId)) givenRight++
    const best = Math.max(...sel.clean.scores.map((c) => c.accuracy))
    assert.ok(best <= 1 && best > givenRight / items.length, `best held-out accuracy ${best}, given labels ${givenRight / items.length}`)
    // An audit never sets a final label: audited rows are not clamped, their refined label is the model's.
    assert.equal(run.metrics.reviewedInTraining, 0)
  } finally {
    db.close()
  }
})

test('the noise estimate after an update counts the labels a reviewer corrected: refined differs from given, not the flag', async () => {
  const { db, truth } = await project()
  try {
    const first = await refine(db, { method: 'auto', seed: 2 })
    const givenOf = new Map(listSamples(db).map((s) => [s.id, s.givenIdx]))
    // Relabel 40 flagged samples whose given label is wrong to their true class.
    const wrong = [...runSuggestions(db, first.runId)].filter(([id, s]) => s.flagged && givenOf.get(id) !== truth.get(id)).map(([id]) => id)
    for (const id of wrong.slice(0, 40)) recordDecision(db, { sampleId: id, action: 'relabel', classIdx: truth.get(id)!, reviewer: 'ana' })
    const r = await refreshSuggestions(db)
    const after = runSuggestions(db, r.runId)
    let differs = 0
    let flagged = 0
    for (const [id, s] of after) {
      if (s.refined !== givenOf.get(id)) differs++
      if (s.flagged) flagged++
    }
    const est = noiseEstimate(db, r.runId)
    assert.equal(
      est.perClass.reduce((a, c) => a + c.flagged, 0),
      differs,
    )
    assert.ok(differs >= flagged + 40, `the 40 corrected labels are clamped (not flagged) and still counted: ${differs} vs ${flagged} flagged`)
  } finally {
    db.close()
  }
})
