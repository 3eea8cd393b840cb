import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NotFoundError } from '../../../electron/engine/errors.ts'
import { ensureClass, now, openDb, vecToBlob, type Db } from '../../../electron/engine/store/db.ts'
import * as q from '../../../electron/engine/store/read-model.ts'
import { completeRun, insertRun } from '../../../electron/engine/store/runs.ts'

/** A small project written with plain SQL (the read model is checked against what was inserted). */
function project(dir: string): { db: Db; ids: number[]; bb: number[] } {
  const db = openDb(join(dir, 'p.qcdb'))
  const ids: number[] = []
  const bb: number[] = []
  db.transaction(() => {
    const cls = ['ok', 'scratch'].map((c) => ensureClass(db, c))
    const src = Number(db.prepare("INSERT INTO sources (kind, root, added_at) VALUES ('images', '/data', ?)").run(now()).lastInsertRowid)
    for (const name of ['a', 'b'])
      bb.push(
        Number(db.prepare("INSERT INTO backbones (name, kind, dim, created_at) VALUES (?, 'embeddings', 2, ?)").run(name, now()).lastInsertRowid),
      )
    const ins = db.prepare(
      'INSERT INTO samples (source_id, path, hash, split, given_class_id, trusted_class_id, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    )
    for (let i = 0; i < 6; i++) {
      const split = i < 5 ? 'train' : 'test'
      ids.push(Number(ins.run(src, `img/${i}.png`, `h${i}`, split, cls[i % 2]!, i === 0 ? cls[1]! : null, now()).lastInsertRowid))
      // Backbone b has features for 4 samples, backbone a for 2.
      if (i < 4)
        db.prepare('INSERT INTO features (hash, backbone_id, vec) VALUES (?, ?, ?)').run(`h${i}`, bb[1]!, vecToBlob(Float32Array.from([i, 1])))
      if (i < 2)
        db.prepare('INSERT INTO features (hash, backbone_id, vec) VALUES (?, ?, ?)').run(`h${i}`, bb[0]!, vecToBlob(Float32Array.from([1, i])))
    }
  })()
  return { db, ids, bb }
}

test('read model: project counts, backbones and the backbone with the most features', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-rm-'))
  try {
    const { db, bb } = project(dir)
    assert.deepEqual(q.projectCounts(db), { samples: 6, train: 5, test: 1, trusted: 1, backbones: 2, runs: 0, reviewEvents: 0 })
    const list = q.backboneSummaries(db)
    assert.deepEqual(
      list.map((b) => [b.id, b.features]),
      [
        [bb[0], 2],
        [bb[1], 4],
      ],
    )
    assert.equal(q.backboneWithMostFeatures(db), bb[1])
    assert.equal(q.featureCount(db, bb[0]!), 2)
    assert.deepEqual(
      q.classesWithCounts(db).map((c) => [c.name, c.count]),
      [
        ['ok', 3],
        ['scratch', 3],
      ],
    )
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('read model: runs resolve to the latest finished one, an unknown id is a NotFoundError, a run knows its backbone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-rm-'))
  try {
    const { db, ids, bb } = project(dir)
    assert.equal(q.resolveRunId(db, undefined), null)
    const r1 = insertRun(db, { method: 'auto', backboneId: bb[1]!, params: { method: 'auto' }, seed: 0 })
    const preds = ids.map((sampleId, i) => ({
      sampleId,
      refined: 1,
      prob: 0.9,
      top1: 1,
      top1Prob: 0.9,
      top2: 0,
      top2Prob: 0.1,
      flagged: (i % 2 === 0 ? 1 : 0) as 0 | 1,
      rank: i % 2 === 0 ? i / 2 + 1 : null,
    }))
    completeRun(db, r1, { method: 'teacher', timings: { total: 5 }, metrics: { flagged: 3, trainSamples: 5 }, predictions: preds })
    insertRun(db, { method: 'pll', backboneId: bb[0]!, params: {}, seed: 0 }) // still running
    assert.equal(q.resolveRunId(db, undefined), r1)
    assert.throws(() => q.resolveRunId(db, 999), NotFoundError)
    assert.equal(q.runBackboneId(db, r1), bb[1])
    const s = q.runSummary(db, r1)!
    assert.equal(s.method, 'teacher')
    assert.equal(s.flagged, 3)
    assert.equal(s.predictions, 6)
    assert.equal(s.selection, null)
    assert.deepEqual(
      q.listRuns(db).map((r) => r.status),
      ['running', 'done'],
    )
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('read model: validations list newest first without results, and one comes back with its parsed results', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-rm-'))
  try {
    const { db } = project(dir)
    const ins = db.prepare('INSERT INTO validations (params, status, results, started_at) VALUES (?, ?, ?, ?)')
    const v1 = Number(ins.run(JSON.stringify({ rates: [0.2] }), 'done', JSON.stringify({ cells: [{ method: 'pll' }] }), now()).lastInsertRowid)
    const v2 = Number(ins.run(JSON.stringify({ rates: [0.5] }), 'running', null, now()).lastInsertRowid)
    assert.deepEqual(
      q.listValidations(db).map((v) => [v.id, v.status, v.params.rates]),
      [
        [v2, 'running', [0.5]],
        [v1, 'done', [0.2]],
      ],
    )
    assert.deepEqual(q.getValidation(db, v1)!.results, { cells: [{ method: 'pll' }] })
    assert.equal(q.getValidation(db, v2)!.results, null)
    assert.equal(q.getValidation(db, 42), undefined)
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
