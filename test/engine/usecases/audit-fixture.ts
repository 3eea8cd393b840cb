/**
 * A project for audit and decision-file tests: `n` image samples of classes ok, scratch, dent with
 * a hidden true class each, given labels of which about a fifth are wrong, and one finished run
 * whose refined label is the true class for most samples (flagged where it differs from the given
 * label). No files: the audit never reads images.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensureClass, now, openDb, type Db } from '../../../electron/engine/store/db.ts'
import { ensureSource, insertSample } from '../../../electron/engine/store/samples.ts'
import { mulberry32 } from '../../../electron/engine/util/rng.ts'

export const CLASSES = ['ok', 'scratch', 'dent']

export interface AuditFixture {
  db: Db
  file: string
  dir: string
  ids: number[]
  /** True class idx by sample id. */
  truth: Map<number, number>
  /** Stored path by sample id. */
  paths: Map<number, string>
  runId: number
}

export function makeAuditProject(n = 200, seed = 1): AuditFixture {
  const dir = mkdtempSync(join(tmpdir(), 'qc-audit-'))
  const file = join(dir, 'p.qcdb')
  const db = openDb(file)
  const rand = mulberry32(seed)
  const ids: number[] = []
  const truth = new Map<number, number>()
  const paths = new Map<number, string>()
  let runId = 0
  db.transaction(() => {
    const cls = CLASSES.map((c) => ensureClass(db, c))
    const src = ensureSource(db, 'images', join(dir, 'images'))
    const given: number[] = []
    for (let i = 0; i < n; i++) {
      const t = i % 3
      const g = rand() < 0.2 ? (t + 1 + Math.floor(rand() * 2)) % 3 : t
      const path = `${CLASSES[g]}/img-${i}.png`
      const id = insertSample(db, { sourceId: src, path, hash: `h${i}`, size: 1, split: 'train', givenClassId: cls[g]! })
      ids.push(id)
      truth.set(id, t)
      paths.set(id, path)
      given.push(g)
    }
    runId = Number(
      db
        .prepare("INSERT INTO runs (method, params, seed, status, started_at, finished_at) VALUES ('teacher', '{}', 0, 'done', ?, ?)")
        .run(now(), now()).lastInsertRowid,
    )
    const ins = db.prepare(
      'INSERT INTO predictions (run_id, sample_id, refined_idx, prob, top1_idx, top1_prob, top2_idx, top2_prob, flagged, rank) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    )
    let rank = 0
    ids.forEach((id, i) => {
      const t = truth.get(id)!
      const r = rand() < 0.9 ? t : given[i]!
      const flagged = r !== given[i] ? 1 : 0
      ins.run(runId, id, r, 0.8, r, 0.8, (r + 1) % 3, 0.1, flagged, flagged ? ++rank : null)
    })
  })()
  return { db, file, dir, ids, truth, paths, runId }
}
