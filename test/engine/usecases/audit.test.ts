// The audit use case on a real project file: the frame and size, the seeded draw, blind items,
// append-only storage, answers from a file (all or nothing), the report and the export's provenance.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { sampleSize } from '../../../electron/engine/review/audit.ts'
import { currentLabels, recordDecision } from '../../../electron/engine/review/review.ts'
import {
  answerAudit,
  applyAnswersFile,
  auditItems,
  auditReport,
  latestCompletedAudit,
  planAudit,
  startAudit,
} from '../../../electron/engine/usecases/audit.ts'
import { RowsError } from '../../../electron/engine/usecases/review.ts'
import { exportProject } from '../../../electron/engine/usecases/export.ts'
import { CLASSES, makeAuditProject } from './audit-fixture.ts'

test('plan: the population is every sample with a final label (or the unflagged part) and the size follows the precision', () => {
  const f = makeAuditProject()
  recordDecision(f.db, { sampleId: f.ids[0]!, action: 'exclude', reviewer: 'ana' })
  const rows = currentLabels(f.db).rows
  const labelled = rows.filter((r) => r.final !== null)
  const all = planAudit(f.db, { stratum: 'all', precision: 0.1 })
  assert.equal(all.population, labelled.length)
  assert.equal(all.population, f.ids.length - 1, 'the excluded sample is not part of the dataset')
  assert.equal(all.size, sampleSize({ precision: 0.1, expected: 0.5, population: all.population }).n)
  const unflagged = planAudit(f.db, { stratum: 'unflagged', precision: 0.1, expected: 0.9 })
  assert.equal(unflagged.population, labelled.filter((r) => !r.flagged).length)
  assert.equal(unflagged.outside, labelled.filter((r) => r.flagged).length)
  assert.equal(unflagged.runId, f.runId)
  assert.ok(unflagged.size < all.size, 'a higher planning accuracy needs fewer samples')
  assert.throws(() => planAudit(f.db, { precision: 0 }), /precision/)
  f.db.close()
})

test('the same seed draws the same samples in the same order; the items an auditor sees carry no label and no path', () => {
  const f = makeAuditProject()
  const a = startAudit(f.db, { precision: 0.1, seed: 42 })
  const b = startAudit(f.db, { precision: 0.1, seed: 42 })
  const c = startAudit(f.db, { precision: 0.1, seed: 43 })
  const ia = auditItems(f.db, a.id)
  assert.equal(ia.length, a.size)
  assert.deepEqual(
    auditItems(f.db, b.id).map((i) => i.sampleId),
    ia.map((i) => i.sampleId),
  )
  assert.notDeepEqual(
    auditItems(f.db, c.id).map((i) => i.sampleId),
    ia.map((i) => i.sampleId),
  )
  for (const item of ia) assert.deepEqual(Object.keys(item).sort(), ['answer', 'hasImage', 'position', 'sampleId'])
  assert.equal(a.seed, 42)
  f.db.close()
})

test('answers are appended, never changed: the latest answer counts, and the tables refuse updates and deletes', () => {
  const f = makeAuditProject(60)
  const a = startAudit(f.db, { precision: 0.2, seed: 1 })
  const first = auditItems(f.db, a.id)[0]!.sampleId
  answerAudit(f.db, a.id, [{ sampleId: first, classIdx: 0, auditor: 'eve' }])
  answerAudit(f.db, a.id, [{ sampleId: first, classIdx: 2, auditor: 'eve' }])
  assert.equal(auditItems(f.db, a.id)[0]!.answer, 2)
  const stored = f.db.prepare('SELECT class_idx AS c FROM audit_answers WHERE audit_id = ? ORDER BY id').all(a.id) as { c: number }[]
  assert.deepEqual(
    stored.map((r) => r.c),
    [0, 2],
    'both answers are kept',
  )
  for (const sql of [
    'UPDATE audit_answers SET class_idx = 1',
    'DELETE FROM audit_answers',
    'UPDATE audit_samples SET final_idx = 0',
    'DELETE FROM audit_samples',
    'UPDATE audits SET seed = 0',
    'DELETE FROM audits',
  ])
    assert.throws(() => f.db.prepare(sql).run(), /append-only/, sql)
  // A sample that was not drawn, or a class that does not exist, is refused and nothing is written.
  const notDrawn = f.ids.find((id) => !auditItems(f.db, a.id).some((i) => i.sampleId === id))!
  assert.throws(() => answerAudit(f.db, a.id, [{ sampleId: notDrawn, classIdx: 0, auditor: 'eve' }]), /not part of this audit/)
  assert.throws(() => answerAudit(f.db, a.id, [{ sampleId: first, classIdx: 7, auditor: 'eve' }]), /class index 7/)
  assert.equal((f.db.prepare('SELECT count(*) AS n FROM audit_answers').get() as { n: number }).n, 2)
  f.db.close()
})

test('the report compares each answer with the final label when drawn; later review decisions do not change it and are counted', () => {
  const f = makeAuditProject()
  const finalAtDraw = new Map(currentLabels(f.db).rows.map((r) => [r.sampleId, r.final]))
  const a = startAudit(f.db, { precision: 0.1, seed: 9 })
  const items = auditItems(f.db, a.id)
  assert.equal(latestCompletedAudit(f.db), null, 'nothing answered yet')
  // The auditor answers with the true class.
  answerAudit(
    f.db,
    a.id,
    items.map((i) => ({ sampleId: i.sampleId, classIdx: f.truth.get(i.sampleId)!, auditor: 'eve' })),
  )
  const right = items.filter((i) => f.truth.get(i.sampleId) === finalAtDraw.get(i.sampleId)).length
  const r1 = auditReport(f.db, a.id)
  assert.ok(r1.audit.complete)
  assert.equal(r1.overall.n, items.length)
  assert.equal(r1.overall.correct, right)
  assert.equal(r1.overall.overall.estimate, right / items.length)
  assert.equal(r1.disagreements.length, items.length - right)
  for (const c of r1.perClass) {
    const mine = items.filter((i) => finalAtDraw.get(i.sampleId) === c.idx)
    assert.equal(c.n, mine.length, `class ${c.name}`)
    assert.equal(c.correct, mine.filter((i) => f.truth.get(i.sampleId) === c.idx).length)
  }
  // The true accuracy of the final labels lies in the interval here (a 95% interval: this seed's draw).
  const trueAccuracy = [...finalAtDraw].filter(([id, fin]) => fin === f.truth.get(id)).length / finalAtDraw.size
  assert.ok(r1.overall.overall.lo <= trueAccuracy && trueAccuracy <= r1.overall.overall.hi, `${trueAccuracy} in the interval`)
  // Fixing a disagreement afterwards does not make the audit look better.
  const wrong = r1.disagreements[0]!
  recordDecision(f.db, { sampleId: wrong.sampleId, action: 'relabel', classIdx: f.truth.get(wrong.sampleId)!, reviewer: 'ana' })
  const r2 = auditReport(f.db, a.id)
  assert.equal(r2.overall.correct, r1.overall.correct)
  assert.equal(r2.reviewsSince, 1)
  assert.equal(latestCompletedAudit(f.db)?.audit.id, a.id)
  f.db.close()
})

test('an answers file with a bad row applies nothing and names every bad line; a good one applies all', () => {
  const f = makeAuditProject(90)
  const a = startAudit(f.db, { precision: 0.2, seed: 3 })
  const items = auditItems(f.db, a.id)
  const notDrawn = f.ids.find((id) => !items.some((i) => i.sampleId === id))!
  const good = items.map((i) => `${f.paths.get(i.sampleId)},${CLASSES[f.truth.get(i.sampleId)!]},eve`)
  const bad = [...good]
  bad[1] = `${f.paths.get(items[1]!.sampleId)},rust,eve` // line 3: unknown class
  bad[3] = `${f.paths.get(notDrawn)},ok,eve` // line 5: not drawn
  bad.push('no/such.png,ok,eve') // last line: unknown path
  const file = join(f.dir, 'answers.csv')
  writeFileSync(file, 'path,label,auditor\n' + bad.join('\n') + '\n')
  assert.throws(
    () => applyAnswersFile(f.db, { file }),
    (e: unknown) => {
      assert.ok(e instanceof RowsError)
      assert.deepEqual(
        e.problems.map((p) => p.line),
        [3, 5, bad.length + 1],
      )
      assert.match(e.problems[0]!.problem, /unknown class 'rust'/)
      assert.match(e.problems[1]!.problem, /not one of the samples/)
      assert.match(e.problems[2]!.problem, /no sample with path/)
      return true
    },
  )
  assert.equal((f.db.prepare('SELECT count(*) AS n FROM audit_answers').get() as { n: number }).n, 0, 'nothing applied')
  writeFileSync(file, 'path,label,auditor\n' + good.join('\n') + '\n')
  const done = applyAnswersFile(f.db, { file })
  assert.equal(done.applied, items.length)
  assert.ok(done.complete)
  f.db.close()
})

test("the export's provenance records the latest completed audit: estimate, interval, n, stratum, seed", async () => {
  const f = makeAuditProject()
  const a = startAudit(f.db, { stratum: 'unflagged', precision: 0.1, expected: 0.9, seed: 11 })
  const items = auditItems(f.db, a.id)
  answerAudit(
    f.db,
    a.id,
    items.map((i) => ({ sampleId: i.sampleId, classIdx: f.truth.get(i.sampleId)!, auditor: 'eve' })),
  )
  startAudit(f.db, { precision: 0.1, seed: 12 }) // a newer audit, not answered: not the one recorded
  const out = join(f.dir, 'labels.json')
  await exportProject(f.db, { format: 'json', out })
  const prov = (JSON.parse(readFileSync(out, 'utf8')) as { provenance: { audit: Record<string, unknown> } }).provenance
  const r = auditReport(f.db, a.id)
  assert.equal(prov.audit.id, a.id)
  assert.equal(prov.audit.stratum, 'unflagged')
  assert.equal(prov.audit.seed, 11)
  assert.equal(prov.audit.n, items.length)
  assert.equal(prov.audit.accuracy, r.overall.overall.estimate)
  assert.deepEqual(prov.audit.interval, {
    lo: r.overall.overall.lo,
    hi: r.overall.overall.hi,
    level: 0.95,
    method: 'wilson, scaled from the unflagged stratum',
  })
  f.db.close()
})
