import { test } from 'node:test'
import assert from 'node:assert/strict'
import { now } from '../../../electron/engine/store/db.ts'
import {
  currentLabels,
  recordDecision,
  recordDecisions,
  reviewCounts,
  reviewHistory,
  reviewState,
  undoLast,
} from '../../../electron/engine/review/review.ts'
import { makeProject } from './project-fixture.ts'

test('decisions set status and final label; history keeps who and when', () => {
  const { db, ids, runId } = makeProject()
  const [a, b, c, d] = ids as [number, number, number, number]
  recordDecision(db, { sampleId: b, action: 'accept', reviewer: 'ana' })
  recordDecision(db, { sampleId: d, action: 'keep', reviewer: 'ana' })
  recordDecision(db, { sampleId: c, action: 'relabel', classIdx: 2, reviewer: 'ben' })
  recordDecision(db, { sampleId: a, action: 'exclude', reviewer: 'ben' })
  const st = reviewState(db)
  assert.deepEqual([st.get(b)?.status, st.get(b)?.finalIdx, st.get(b)?.reviewer], ['accepted', 1, 'ana'])
  assert.deepEqual([st.get(d)?.status, st.get(d)?.finalIdx], ['kept', 2])
  assert.deepEqual([st.get(c)?.status, st.get(c)?.finalIdx], ['relabelled', 2])
  assert.deepEqual([st.get(a)?.status, st.get(a)?.finalIdx], ['excluded', null])
  const h = reviewHistory(db, b)
  assert.equal(h.length, 1)
  assert.equal(h[0]!.runId, runId)
  assert.ok(Date.parse(h[0]!.at) <= Date.now())
  assert.deepEqual(reviewCounts(db), {
    runId,
    flagged: 3,
    reviewed: 2,
    byStatus: { unreviewed: 1, accepted: 1, kept: 1, relabelled: 0, excluded: 0 },
  })
  db.close()
})

test('undo is per reviewer, appends an event and restores the previous decision', () => {
  const { db, ids } = makeProject()
  const [, b, c] = ids as [number, number, number]
  recordDecision(db, { sampleId: b, action: 'keep', reviewer: 'ana' })
  recordDecision(db, { sampleId: b, action: 'accept', reviewer: 'ana' })
  recordDecision(db, { sampleId: c, action: 'exclude', reviewer: 'ben' })
  const u = undoLast(db, { reviewer: 'ana' })!
  assert.equal(u.action, 'undo')
  assert.equal(u.sampleId, b)
  // ben's decision untouched; ana's sample back to her earlier 'keep'.
  assert.equal(reviewState(db).get(c)?.status, 'excluded')
  assert.deepEqual([reviewState(db).get(b)?.status, reviewState(db).get(b)?.finalIdx], ['kept', 0])
  undoLast(db, { reviewer: 'ana' })
  assert.equal(reviewState(db).get(b)?.status, 'unreviewed')
  assert.equal(undoLast(db, { reviewer: 'ana' }), null)
  const h = reviewHistory(db, b)
  assert.deepEqual(
    h.map((e) => [e.action, e.undone]),
    [
      ['keep', true],
      ['accept', true],
      ['undo', false],
      ['undo', false],
    ],
  )
  // Redo after undo: a new decision counts again.
  recordDecision(db, { sampleId: b, action: 'relabel', classIdx: 2, reviewer: 'ana' })
  assert.equal(reviewState(db).get(b)?.status, 'relabelled')
  db.close()
})

test('the log is append-only: updates and deletes are refused by the database', () => {
  const { db, ids } = makeProject()
  const e = recordDecision(db, { sampleId: ids[1]!, action: 'accept', reviewer: 'ana' })
  assert.throws(() => db.prepare("UPDATE review_events SET reviewer = 'x' WHERE id = ?").run(e.id), /append-only/)
  assert.throws(() => db.prepare('DELETE FROM review_events').run(), /append-only/)
  db.close()
})

test('bad decisions are refused with a reason, bulk decisions are all-or-nothing', () => {
  const { db, ids } = makeProject()
  assert.throws(() => recordDecision(db, { sampleId: 999, action: 'keep', reviewer: 'ana' }), /sample 999 does not exist/)
  assert.throws(() => recordDecision(db, { sampleId: ids[0]!, action: 'keep', reviewer: ' ' }), /needs the reviewer name/)
  assert.throws(() => recordDecision(db, { sampleId: ids[0]!, action: 'relabel', reviewer: 'a' }), /relabel needs a class/)
  assert.throws(() => recordDecision(db, { sampleId: ids[0]!, action: 'relabel', classIdx: 7, reviewer: 'a' }), /class index 7 does not exist/)
  assert.throws(() => recordDecision(db, { sampleId: ids[0]!, action: 'accept', runId: 42, reviewer: 'a' }), /run 42 does not exist/)
  assert.throws(
    () =>
      recordDecisions(db, [
        { sampleId: ids[1]!, action: 'accept', reviewer: 'a' },
        { sampleId: 999, action: 'accept', reviewer: 'a' },
      ]),
    /sample 999/,
  )
  assert.equal(reviewState(db).size, 0)
  const evs = recordDecisions(db, [
    { sampleId: ids[1]!, action: 'accept', reviewer: 'a' },
    { sampleId: ids[3]!, action: 'accept', reviewer: 'a' },
  ])
  assert.deepEqual(
    evs.map((e) => e.classIdx),
    [1, 0],
  )
  db.close()
})

test('currentLabels: final = decision, else given; autoAccept takes the suggestion for unreviewed flagged samples', () => {
  const { db, ids, runId } = makeProject()
  recordDecision(db, { sampleId: ids[1]!, action: 'keep', reviewer: 'ana' })
  recordDecision(db, { sampleId: ids[0]!, action: 'exclude', reviewer: 'ana' })
  const cur = currentLabels(db)
  assert.equal(cur.runId, runId)
  assert.deepEqual(cur.classes, ['ok', 'scratch', 'dent'])
  assert.deepEqual(
    cur.rows.map((r) => [r.givenLabel, r.refinedLabel, r.flagged, r.finalLabel, r.status]),
    [
      ['ok', 'ok', false, null, 'excluded'],
      ['ok', 'scratch', true, 'ok', 'kept'],
      ['scratch', 'scratch', false, 'scratch', 'unreviewed'],
      ['dent', 'ok', true, 'dent', 'unreviewed'],
      ['ok', 'dent', true, 'ok', 'unreviewed'],
    ],
  )
  const auto = currentLabels(db, { autoAccept: true })
  assert.deepEqual(
    auto.rows.map((r) => r.finalLabel),
    [null, 'ok', 'scratch', 'ok', 'dent'],
  )
  assert.deepEqual(
    auto.rows.map((r) => r.finalSource),
    ['excluded', 'review', 'given', 'refined', 'refined'],
  )
  // The latest done run is the default; a running one is not.
  db.prepare("INSERT INTO runs (method, params, status, started_at) VALUES ('teacher', '{}', 'running', ?)").run(now())
  assert.equal(currentLabels(db).runId, runId)
  db.close()
})
