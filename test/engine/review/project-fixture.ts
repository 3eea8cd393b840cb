/** A tiny real project: classes, image samples (files not needed), one finished run with predictions. */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensureClass, now, openDb, type Db } from '../../../electron/engine/store/db.ts'
import { ensureSource, insertSample } from '../../../electron/engine/store/samples.ts'

export interface Fixture {
  db: Db
  dir: string
  ids: number[]
  runId: number
}

/**
 * Classes ok(0), scratch(1), dent(2); samples given [ok, ok, scratch, dent, ok]; a done run that
 * refines them to [ok, scratch, scratch, ok, dent] (flagged: 1, 3, 4).
 */
export function makeProject(root = '/data/imgs'): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'qc-review-'))
  const db = openDb(join(dir, 'p.qcdb'))
  const ids: number[] = []
  let runId = 0
  db.transaction(() => {
    const cls = ['ok', 'scratch', 'dent'].map((c) => ensureClass(db, c))
    const src = ensureSource(db, 'images', root)
    const given = [0, 0, 1, 2, 0]
    given.forEach((g, i) =>
      ids.push(
        insertSample(db, { sourceId: src, path: `img/${i}.png`, hash: `h${i}`, size: 1, split: i === 4 ? 'test' : 'train', givenClassId: cls[g]! }),
      ),
    )
    runId = Number(
      db
        .prepare("INSERT INTO runs (method, params, seed, status, started_at, finished_at) VALUES ('pll', '{\"lambda\":0.001}', 0, 'done', ?, ?)")
        .run(now(), now()).lastInsertRowid,
    )
    const refined = [0, 1, 1, 0, 2]
    const ins = db.prepare(
      'INSERT INTO predictions (run_id, sample_id, refined_idx, prob, top1_idx, top1_prob, top2_idx, top2_prob, flagged, rank) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    )
    let rank = 0
    refined.forEach((r, i) => {
      const flagged = r !== given[i] ? 1 : 0
      ins.run(runId, ids[i], r, 0.9 - i * 0.1, r, 0.9 - i * 0.1, (r + 1) % 3, 0.05, flagged, flagged ? ++rank : null)
    })
  })()
  return { db, dir, ids, runId }
}
