import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensureClass, now, openDb, vecToBlob, type Db } from '../../../electron/engine/store/db.ts'
import { refineProject } from '../../../electron/engine/train/project.ts'
import { createRng } from '../../../electron/engine/util/rng.ts'

/**
 * A real project file: 3 classes of Gaussian clusters in 5-d, 150 training samples (25% of the
 * given labels wrong, 10 without a given label, trusted labels on 30 of them) and 30 test samples.
 */
function makeProject(dir: string): { db: Db; truthBySample: Map<number, number>; backboneId: number } {
  const db = openDb(join(dir, 'p.qc'))
  const rng = createRng(3)
  const k = 3
  const d = 5
  const centres = Array.from({ length: k }, () => Array.from({ length: d }, () => 3 * rng.normal()))
  const truthBySample = new Map<number, number>()
  let backboneId = 0
  db.transaction(() => {
    const classIds = ['ok', 'scratch', 'dent'].map((c) => ensureClass(db, c))
    const src = Number(db.prepare("INSERT INTO sources (kind, root, added_at) VALUES ('embeddings', '/x.npy', ?)").run(now()).lastInsertRowid)
    // An older backbone with no features, so the default must skip it.
    db.prepare("INSERT INTO backbones (name, kind, dim, created_at) VALUES ('empty', 'embeddings', 5, '2020-01-01T00:00:00Z')").run()
    backboneId = Number(
      db.prepare("INSERT INTO backbones (name, kind, dim, created_at) VALUES ('emb', 'embeddings', 5, ?)").run(now()).lastInsertRowid,
    )
    const insS = db.prepare(
      'INSERT INTO samples (source_id, path, hash, split, given_class_id, trusted_class_id, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    )
    const insF = db.prepare('INSERT INTO features (hash, backbone_id, vec) VALUES (?, ?, ?)')
    for (let i = 0; i < 180; i++) {
      const c = i % k
      const split = i < 150 ? 'train' : 'test'
      const v = Float32Array.from(centres[c]!, (m) => m + 0.7 * rng.normal())
      let g: number | null = rng.next() < 0.25 ? (c + 1 + rng.int(k - 1)) % k : c
      if (split === 'train' && i >= 140) g = null
      const trusted = i < 30 || split === 'test' ? classIds[c]! : null
      const hash = `h${i}`
      const id = Number(insS.run(src, String(i), hash, split, g === null ? null : classIds[g]!, trusted, now()).lastInsertRowid)
      insF.run(hash, backboneId, vecToBlob(v))
      truthBySample.set(id, c)
    }
  })()
  return { db, truthBySample, backboneId }
}

test('refineProject trains on labelled training samples (trusted ones with their trusted label), records the run and predictions for every sample with features', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-refine-'))
  try {
    const { db, truthBySample, backboneId } = makeProject(dir)
    const { runId, result } = await refineProject(db, { method: 'auto', lambdas: [1e-2, 1e-3] })
    // 150 training samples: 10 are unlabelled; the 30 with a trusted label are trained on with it.
    assert.equal(result.n, 140)
    const run = db.prepare('SELECT * FROM runs WHERE id = ?').get(runId) as Record<string, string | number>
    assert.equal(run.status, 'done')
    assert.equal(run.method, result.method) // the method auto chose, not 'auto'
    assert.ok(['teacher', 'sd', 'pll'].includes(run.method as string))
    assert.equal(run.backbone_id, backboneId)
    const params = JSON.parse(run.params as string)
    assert.equal(params.method, 'auto')
    assert.equal(params.backboneId, backboneId)
    const metrics = JSON.parse(run.metrics as string)
    assert.ok([1e-2, 1e-3].includes(metrics.lambda))
    assert.ok(metrics.selection.scores.length > 0)
    // The audit of the given labels on trusted samples (30 training + 30 test): about 75% right.
    assert.equal(metrics.trusted.samples, 60)
    assert.ok(metrics.trusted.givenAccuracy > 0.55 && metrics.trusted.givenAccuracy < 0.95)
    assert.equal(metrics.trustedInTraining, 30)
    assert.ok(JSON.parse(run.timings as string).total >= 0)
    interface PredRow {
      sample_id: number
      refined_idx: number
      prob: number
      top1_prob: number
      top2_prob: number
      flagged: number
      rank: number | null
      split: string
      given_class_id: number | null
      trusted_class_id: number | null
    }
    const preds = db
      .prepare('SELECT p.*, s.split, s.given_class_id, s.trusted_class_id FROM predictions p JOIN samples s ON s.id = p.sample_id WHERE run_id = ?')
      .all(runId) as PredRow[]
    assert.equal(preds.length, 180)
    let right = 0
    let flaggedTrain = 0
    for (const p of preds) {
      if (p.refined_idx === truthBySample.get(p.sample_id)) right++
      assert.ok(p.prob > 0 && p.prob <= 1 && p.top1_prob >= p.top2_prob)
      if (p.split === 'test' || p.given_class_id === null) assert.equal(p.rank, null)
      if (p.split === 'train' && p.flagged) flaggedTrain++
    }
    assert.ok(right / 180 > 0.9, `refined labels match the truth for ${right} of 180`)
    // Trusted training samples are clamped to their trusted label; where the given label differs
    // they are flagged and come first in the review order.
    const trustedRows = db
      .prepare(
        `SELECT p.refined_idx, p.flagged, p.rank, ct.idx AS t, cg.idx AS g FROM predictions p JOIN samples s ON s.id = p.sample_id
         JOIN classes ct ON ct.id = s.trusted_class_id LEFT JOIN classes cg ON cg.id = s.given_class_id WHERE p.run_id = ? AND s.split = 'train'`,
      )
      .all(runId) as { refined_idx: number; flagged: number; rank: number | null; t: number; g: number | null }[]
    assert.equal(trustedRows.length, 30)
    const corrected = trustedRows.filter((r) => r.g !== r.t)
    assert.ok(corrected.length > 0)
    for (const r of trustedRows) {
      assert.equal(r.refined_idx, r.t)
      assert.equal(r.flagged, r.g !== r.t ? 1 : 0)
    }
    assert.deepEqual(
      corrected.map((r) => r.rank).sort((a, b) => a! - b!),
      Array.from({ length: corrected.length }, (_, i) => i + 1),
    )
    assert.equal(
      flaggedTrain,
      result.flagged.reduce((a, b) => a + b, 0),
    )
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('refineProject records a cancelled run and a failed run with the reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-refine-'))
  try {
    const { db } = makeProject(dir)
    const ac = new AbortController()
    ac.abort()
    await assert.rejects(refineProject(db, { method: 'teacher', lambda: 1e-3, signal: ac.signal }))
    await assert.rejects(refineProject(db, { method: 'teacher', lambda: 1e-3, backboneId: 999 }), /no backbone with id 999/)
    await assert.rejects(refineProject(db, { method: 'sd', rounds: 11 }), /rounds must be an integer/)
    const runs = db.prepare('SELECT status, error FROM runs ORDER BY id').all() as { status: string; error: string }[]
    assert.deepEqual(
      runs.map((r) => r.status),
      ['cancelled', 'failed'],
    )
    assert.match(runs[1]!.error, /rounds must be an integer/)
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
