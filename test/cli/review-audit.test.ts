// `qc review --decisions` and `qc audit` as a user runs them: a child process on a real project
// file, files written by the test, the project read back with a separate connection.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { parseCsv } from '../../electron/engine/util/csv.ts'
import { CLASSES, makeAuditProject } from '../engine/usecases/audit-fixture.ts'

const QC = new URL('../../bin/qc.mjs', import.meta.url).pathname

function qc(args: string[]) {
  const r = spawnSync(process.execPath, [QC, ...args], { encoding: 'utf8', timeout: 120_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

function events(file: string): { sample_id: number; action: string; class_idx: number | null; reviewer: string }[] {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    return db.prepare('SELECT sample_id, action, class_idx, reviewer FROM review_events ORDER BY id').all() as {
      sample_id: number
      action: string
      class_idx: number | null
      reviewer: string
    }[]
  } finally {
    db.close()
  }
}

test('qc review --decisions: a file with bad rows names each line and applies nothing; a good file applies every row', () => {
  const f = makeAuditProject(30)
  const flagged = f.db.prepare('SELECT sample_id AS id, refined_idx AS r FROM predictions WHERE flagged = 1 ORDER BY sample_id').all() as {
    id: number
    r: number
  }[]
  f.db.close()
  const [p0, p1, p2, p3] = f.ids.map((id) => f.paths.get(id)!)
  // A flagged sample to accept, not one of the four named below.
  const acc = flagged.find((x) => !f.ids.slice(0, 4).includes(x.id))
  assert.ok(acc, 'the fixture flags some samples')
  const good = ['path,action,label,reviewer', `${f.paths.get(acc.id)},accept,,ana`, `${p1},relabel,dent,ana`, `${p2},keep,,ben`, `${p3},exclude,,ben`]
  const bad = [
    ...good,
    `${p0},relabel,rust,ana`, // line 6: unknown class
    `${p0},approve,,ana`, // line 7: unknown action
    `missing/file.png,keep,,ana`, // line 8: no such sample
    `${p1},keep,,ana`, // line 9: the same sample as line 3
    `${p0},keep,,`, // line 10: no reviewer
  ]
  const file = join(f.dir, 'decisions.csv')
  writeFileSync(file, bad.join('\n') + '\n')
  const r = qc(['review', '--project', f.file, '--decisions', file])
  assert.equal(r.code, 1, r.stderr)
  for (const [line, what] of [
    [6, /unknown class 'rust'/],
    [7, /unknown action 'approve'/],
    [8, /no sample with path 'missing\/file\.png'/],
    [9, /the same sample as line 3/],
    [10, /no reviewer/],
  ] as const)
    assert.match(r.stderr, new RegExp(`${file.replace(/[.]/g, '\\.')}:${line}: ${what.source}`), `line ${line} reported:\n${r.stderr}`)
  assert.match(r.stderr, /5 bad rows, nothing applied/)
  assert.equal(events(f.file).length, 0, 'nothing applied')

  writeFileSync(file, good.join('\r\n') + '\r\n')
  const ok = qc(['review', '--project', f.file, '--decisions', file, '--json', '--quiet'])
  assert.equal(ok.code, 0, ok.stderr)
  const out = JSON.parse(ok.stdout) as { applied: number; byAction: Record<string, number> }
  assert.equal(out.applied, 4)
  assert.deepEqual(out.byAction, { accept: 1, keep: 1, relabel: 1, exclude: 1 })
  const ev = events(f.file)
  assert.deepEqual(
    ev.map((e) => [e.sample_id, e.action, e.reviewer]),
    [
      [acc.id, 'accept', 'ana'],
      [f.ids[1], 'relabel', 'ana'],
      [f.ids[2], 'keep', 'ben'],
      [f.ids[3], 'exclude', 'ben'],
    ],
  )
  assert.equal(ev[0]!.class_idx, acc.r, 'accept recorded the suggestion')
  assert.equal(ev[1]!.class_idx, CLASSES.indexOf('dent'))
  // The log stays append-only: the same file again appends, it never rewrites.
  assert.equal(qc(['review', '--project', f.file, '--decisions', file, '--quiet']).code, 0)
  assert.equal(events(f.file).length, 8)
})

test('qc audit: plan, draw with a seed, an answers file, the report; the same seed draws the same samples', () => {
  const f = makeAuditProject(150)
  f.db.close()
  const dry = qc(['audit', '--project', f.file, '--precision', '0.1', '--expected', '0.8', '--dry-run', '--json', '--quiet'])
  assert.equal(dry.code, 0, dry.stderr)
  const plan = JSON.parse(dry.stdout) as { population: number; size: number }
  assert.equal(plan.population, 150)
  assert.ok(plan.size > 0 && plan.size < 150)
  // A dry run draws nothing.
  const report0 = qc(['audit', '--project', f.file, '--report'])
  assert.equal(report0.code, 1)
  assert.match(report0.stderr, /no audit yet/)

  const template = join(f.dir, 'to-label.csv')
  const drawn = qc(['audit', '--project', f.file, '--precision', '0.1', '--expected', '0.8', '--seed', '5', '--out', template])
  assert.equal(drawn.code, 0, drawn.stderr)
  assert.match(drawn.stdout, new RegExp(`audit 1 drawn: ${plan.size} of 150 samples`))
  const rows = parseCsv(readFileSync(template, 'utf8')).map((r) => r.cells)
  assert.deepEqual(rows[0], ['path', 'label', 'auditor'])
  assert.equal(rows.length - 1, plan.size)
  const again = qc(['audit', '--project', f.file, '--precision', '0.1', '--expected', '0.8', '--seed', '5', '--json', '--quiet'])
  assert.equal(again.code, 0, again.stderr)
  assert.deepEqual(
    (JSON.parse(again.stdout) as { paths: string[] }).paths,
    rows.slice(1).map((r) => r[0]),
    'the same seed draws the same samples in the same order',
  )

  // An answers file that exists is refused before anything is drawn.
  const clash = qc(['audit', '--project', f.file, '--precision', '0.1', '--out', template])
  assert.equal(clash.code, 2)
  assert.match(clash.stderr, /already exists/)
  const db = new Database(f.file, { readonly: true, fileMustExist: true })
  assert.equal((db.prepare('SELECT count(*) AS n FROM audits').get() as { n: number }).n, 2, 'two audits drawn, none by the refused command')
  db.close()

  // The auditor fills in the true class of audit 1's samples.
  const idOf = new Map([...f.paths].map(([id, p]) => [p, id]))
  const filled = rows.slice(1).map(([p]) => `${p},${CLASSES[f.truth.get(idOf.get(p!)!)!]},eve`)
  const answers = join(f.dir, 'answers.csv')
  writeFileSync(answers, ['path,label,auditor', ...filled].join('\n') + '\n')
  const applied = qc(['audit', '--project', f.file, '--answers', answers, '--audit', '1'])
  assert.equal(applied.code, 0, applied.stderr)
  assert.match(applied.stdout, new RegExp(`${plan.size} of ${plan.size} samples answered`))

  const rep = qc(['audit', '--project', f.file, '--report', '--audit', '1', '--json', '--quiet'])
  assert.equal(rep.code, 0, rep.stderr)
  const report = JSON.parse(rep.stdout) as {
    audit: { complete: boolean; seed: number }
    overall: { n: number; correct: number; overall: { estimate: number; lo: number; hi: number } }
  }
  assert.ok(report.audit.complete)
  assert.equal(report.audit.seed, 5)
  // Right = the given label (no review decisions here) is the true class.
  const given = new Map([...f.paths].map(([id, p]) => [id, CLASSES.indexOf(p.split('/')[0]!)]))
  const right = rows.slice(1).filter(([p]) => given.get(idOf.get(p!)!) === f.truth.get(idOf.get(p!)!)).length
  assert.equal(report.overall.n, plan.size)
  assert.equal(report.overall.correct, right)
  assert.ok(report.overall.overall.lo <= right / plan.size && right / plan.size <= report.overall.overall.hi)
  const text = qc(['audit', '--project', f.file, '--report', '--audit', '1'])
  assert.match(text.stdout, new RegExp(`accuracy of the final labels: ${((100 * right) / plan.size).toFixed(1)}%`))
  assert.match(text.stdout, /per class \(by final label\)/)

  // Usage: modes do not mix.
  const mixed = qc(['audit', '--project', f.file, '--report', '--seed', '3'])
  assert.equal(mixed.code, 2)
  assert.match(mixed.stderr, /--report takes no --seed/)
})
