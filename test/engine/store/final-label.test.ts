// One final-label rule (shared/final-label.ts, re-exported by store/labels.ts beside its SQL form): the JavaScript rule behind review.ts `currentLabels`
// (and so every export and the export preview), the read model's `final` column and its
// `classBy: 'final'` filter, the SQL form with auto-accept, and the exported CSV's final_label
// must agree on every sample, in every review state, with and without auto-accept and a run.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { contract } from '../../../shared/contract.ts'
import { ensureClass, openDb, type Db } from '../../../electron/engine/store/db.ts'
import { ensureSource, insertSample } from '../../../electron/engine/store/samples.ts'
import { completeRun, insertRun, type PredictionRow } from '../../../electron/engine/store/runs.ts'
import { insertEmbeddingsBackbone } from '../../../electron/engine/store/backbones.ts'
import { finalLabel, finalLabelRuleText, finalLabelSql } from '../../../electron/engine/store/labels.ts'
import * as shared from '../../../shared/final-label.ts'
import { querySamples, resolveRunId, REVIEW_CTE, rowsByIds } from '../../../electron/engine/store/read-model.ts'
import { currentLabels, recordDecision, reviewState, undoLast, type ReviewAction } from '../../../electron/engine/review/review.ts'
import { exportLabels } from '../../../electron/engine/export/export.ts'
import { parseCsv, unguardCell } from '../../../electron/engine/util/csv.ts'

const CLASSES = ['a', 'b', 'c']
type Name = 'a' | 'b' | 'c'
type Step = { action: ReviewAction; to?: Name } | 'undo'

interface Case {
  path: string
  given: Name | null
  /** The run's refined label (flagged when it differs from the given one); absent: no prediction. */
  refined?: Name
  /** Decisions in order, each undo taking back the one before it. Steps with accept need a run. */
  steps: Step[]
  /** Expected final label: with a run and without / with auto-accept; and in the project without a run. */
  plain: Name | null
  auto: Name | null
  noRun: Name | null
}

const CASES: Case[] = [
  { path: 'unreviewed', given: 'a', refined: 'a', steps: [], plain: 'a', auto: 'a', noRun: 'a' },
  { path: 'unreviewed-flagged', given: 'a', refined: 'b', steps: [], plain: 'a', auto: 'b', noRun: 'a' },
  { path: 'accept', given: 'a', refined: 'b', steps: [{ action: 'accept' }], plain: 'b', auto: 'b', noRun: 'a' },
  { path: 'keep', given: 'a', refined: 'c', steps: [{ action: 'keep' }], plain: 'a', auto: 'a', noRun: 'a' },
  { path: 'relabel', given: 'b', refined: 'b', steps: [{ action: 'relabel', to: 'c' }], plain: 'c', auto: 'c', noRun: 'c' },
  { path: 'exclude', given: 'c', refined: 'a', steps: [{ action: 'exclude' }], plain: null, auto: null, noRun: null },
  { path: 'accept-undone', given: 'b', refined: 'c', steps: [{ action: 'accept' }, 'undo'], plain: 'b', auto: 'c', noRun: 'b' },
  {
    path: 'relabel-keep-undone',
    given: 'c',
    refined: 'b',
    steps: [{ action: 'relabel', to: 'a' }, { action: 'keep' }, 'undo'],
    plain: 'a',
    auto: 'a',
    noRun: 'a',
  },
  { path: 'exclude-undone', given: 'b', refined: 'b', steps: [{ action: 'exclude' }, 'undo'], plain: 'b', auto: 'b', noRun: 'b' },
  { path: 'no-given', given: null, refined: 'a', steps: [], plain: null, auto: 'a', noRun: null },
  { path: 'no-given-relabel', given: null, refined: 'b', steps: [{ action: 'relabel', to: 'c' }], plain: 'c', auto: 'c', noRun: 'c' },
  { path: 'no-prediction', given: 'a', steps: [], plain: 'a', auto: 'a', noRun: 'a' },
]

const idxOf = (n: Name | null | undefined): number | null => (n === null || n === undefined ? null : CLASSES.indexOf(n))

/**
 * The project: every case as a sample. With a run: two finished runs; decisions are made with the
 * first, the second (the latest, which everything defaults to) suggests 'c' for the accepted
 * sample, which must not change what was accepted.
 */
function build(dir: string, withRun: boolean): { db: Db; id: Map<string, number> } {
  const db = openDb(join(dir, `${withRun ? 'run' : 'norun'}.qcdb`))
  const id = new Map<string, number>()
  db.transaction(() => {
    const cls = CLASSES.map((c) => ensureClass(db, c))
    const src = ensureSource(db, 'images', '/data/final-label')
    for (const c of CASES) {
      const givenClassId = c.given === null ? null : cls[idxOf(c.given)!]!
      id.set(c.path, insertSample(db, { sourceId: src, path: c.path, hash: `h-${c.path}`, size: 1, split: 'train', givenClassId }))
    }
  })()
  const backboneId = insertEmbeddingsBackbone(db, { name: 'space', npyPath: '/data/final-label.npy', dim: 2 })
  const run = (refinedOf: (c: Case) => Name | undefined): void => {
    const runId = insertRun(db, { method: 'pll', backboneId, params: {}, seed: 0 })
    const predictions: PredictionRow[] = []
    let rank = 0
    for (const c of CASES) {
      const r = idxOf(refinedOf(c))
      if (r === null) continue
      const flagged = r !== idxOf(c.given) ? 1 : 0
      predictions.push({
        sampleId: id.get(c.path)!,
        refined: r,
        prob: 0.9,
        top1: r,
        top1Prob: 0.9,
        top2: (r + 1) % 3,
        top2Prob: 0.1,
        flagged,
        rank: flagged ? ++rank : null,
      })
    }
    completeRun(db, runId, { method: 'pll', timings: {}, metrics: {}, predictions })
  }
  if (withRun) run((c) => c.refined)
  for (const c of CASES) {
    // Without a run there is nothing to accept: such a step, and an undo of it, are left out.
    let skipped = false
    for (const s of c.steps) {
      if (s === 'undo') {
        if (!skipped) assert.ok(undoLast(db, { reviewer: 'ana' }), `${c.path}: nothing to undo`)
        continue
      }
      skipped = s.action === 'accept' && !withRun
      if (skipped) continue
      recordDecision(db, { sampleId: id.get(c.path)!, action: s.action, classIdx: idxOf(s.to) ?? undefined, reviewer: 'ana' })
    }
  }
  if (withRun) run((c) => (c.path === 'accept' ? 'c' : c.refined))
  return { db, id }
}

/** final label idx per sample id, by the read model's `final` column (querySamples and rowsByIds agree). */
function readModelFinals(db: Db, ids: number[]): Map<number, number | null> {
  const runId = resolveRunId(db, undefined)
  const page = querySamples(db, contract.querySamples.input.parse({ sort: 'id', limit: 5000 }), runId)
  assert.equal(page.total, ids.length)
  const byQuery = new Map(page.items.map((r) => [r.id, r.final]))
  const byIds = rowsByIds(db, ids, runId)
  for (const id of ids) assert.equal(byIds.get(id)?.final, byQuery.get(id), `rowsByIds and querySamples disagree on sample ${id}`)
  // The classBy 'final' filter uses the same expression.
  for (let k = 0; k < CLASSES.length; k++) {
    const f = querySamples(db, contract.querySamples.input.parse({ classIdx: k, classBy: 'final', sort: 'id', limit: 5000 }), runId)
    assert.deepEqual(
      f.items.map((r) => r.id),
      ids.filter((id) => byQuery.get(id) === k),
      `classBy final = ${CLASSES[k]}`,
    )
  }
  return byQuery
}

/** The SQL rule evaluated over the project (with auto-accept when asked), per sample id. */
function sqlFinals(db: Db, autoAccept: boolean): Map<number, number | null> {
  const runId = resolveRunId(db, undefined) ?? -1
  const expr = finalLabelSql(
    { action: 'rev.action', decided: 'rev.class_idx', given: 'gc.idx', refined: 'p.refined_idx', flagged: 'p.flagged' },
    autoAccept,
  )
  const rows = db
    .prepare(
      `WITH ${REVIEW_CTE} SELECT s.id AS id, ${expr} AS final FROM samples s
       LEFT JOIN classes gc ON gc.id = s.given_class_id
       LEFT JOIN predictions p ON p.sample_id = s.id AND p.run_id = ?
       LEFT JOIN rev ON rev.sample_id = s.id`,
    )
    .all(runId) as { id: number; final: number | null }[]
  return new Map(rows.map((r) => [r.id, r.final]))
}

/** path -> [final_label, review_status] from a CSV export (excluded samples included). */
async function csvFinals(db: Db, dir: string, autoAccept: boolean): Promise<Map<string, [string, string]>> {
  const out = join(dir, `export-${autoAccept ? 'auto' : 'plain'}.csv`)
  await exportLabels(db, { format: 'csv', out, includeExcluded: true, autoAccept, force: true })
  const [header, ...recs] = parseCsv(readFileSync(out, 'utf8'), out)
  const col = (name: string) => header!.cells.indexOf(name)
  const [iPath, iFinal, iStatus] = [col('path'), col('final_label'), col('review_status')]
  return new Map(recs.map((r) => [unguardCell(r.cells[iPath]!), [unguardCell(r.cells[iFinal]!), r.cells[iStatus]!]]))
}

test('final label: the store uses the shared rule itself, not a copy', () => {
  assert.equal(finalLabel, shared.finalLabel)
  assert.equal(finalLabelRuleText, shared.finalLabelRuleText)
})

for (const withRun of [true, false]) {
  test(`final label: the JS rule, the read model, the SQL rule and the CSV export agree on every review state (${withRun ? 'with a run' : 'no run'})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qc-final-'))
    try {
      const { db, id } = build(dir, withRun)
      const ids = CASES.map((c) => id.get(c.path)!)
      const readModel = readModelFinals(db, ids)
      for (const autoAccept of [false, true]) {
        const cur = currentLabels(db, { autoAccept })
        assert.equal(cur.runId === null, !withRun)
        const js = new Map(cur.rows.map((r) => [r.sampleId, r]))
        const sql = sqlFinals(db, autoAccept)
        const review = reviewState(db)
        const csv = await csvFinals(db, dir, autoAccept)
        assert.equal(csv.size, CASES.length)
        for (const c of CASES) {
          const sid = id.get(c.path)!
          const want = idxOf(withRun ? (autoAccept ? c.auto : c.plain) : c.noRun)
          const row = js.get(sid)!
          const what = `${c.path} (${withRun ? 'run' : 'no run'}, autoAccept ${autoAccept})`
          // The rule called directly on the replayed review log and the run's prediction.
          const st = review.get(sid)
          const input = {
            status: st?.status ?? 'unreviewed',
            decided: st?.finalIdx ?? null,
            given: row.given,
            refined: row.refined,
            flagged: row.flagged,
          }
          assert.equal(finalLabel(input, autoAccept).final, want, `${what}: finalLabel`)
          assert.equal(row.final, want, `${what}: currentLabels`)
          assert.equal(sql.get(sid), want, `${what}: SQL rule`)
          // The read model (the review grid) shows the rule without auto-accept.
          if (!autoAccept) assert.equal(readModel.get(sid), want, `${what}: read model final`)
          const [finalLabelCell, status] = csv.get(c.path)!
          assert.equal(finalLabelCell, want === null ? '' : CLASSES[want], `${what}: CSV final_label`)
          assert.equal(status === 'auto-accepted', row.finalSource === 'refined', `${what}: CSV review_status ${status}`)
        }
      }
      db.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
}
