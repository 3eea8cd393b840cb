/**
 * Use case: review decisions from a file, behind `qc review --decisions FILE.csv`. The file has
 * the header `path,action,label,reviewer` (column order free, names case-insensitive); each row is
 * one decision in review/review.ts's vocabulary:
 * - accept: take the run's suggestion (label empty, or the suggested class itself);
 * - keep: keep the given label (label empty, or the given class itself);
 * - relabel: the class in `label`;
 * - exclude: leave the sample out of exports (label empty).
 * Every row is checked first (the sample exists and is named once, the action is known, the label
 * fits the action, a reviewer is named); every bad row is reported with its line and problem, and
 * then nothing is applied. A good file is applied through review.ts `recordDecisions`, the function
 * the app's bulk accept uses, in one transaction: all rows or none. The review log stays
 * append-only.
 *
 * A row names its sample by `path` as the export writes it: relative to its image folder (or the
 * embeddings id), or the absolute file when the project has several folders.
 */
import { join } from 'node:path'
import { BadInputError, ConflictError } from '../errors.ts'
import { recordDecisions, type Decision, type ReviewAction } from '../review/review.ts'
import { listClasses, type Db } from '../store/db.ts'
import { latestDoneRunId, refinedLabelOf, runStatus } from '../store/runs.ts'
import { getSample, sampleLocations } from '../store/samples.ts'
import { parseCsv, unguardCell } from '../util/csv.ts'
import { readFileSync } from 'node:fs'

/** A bad row of an input file: its 1-based line and what is wrong with it. */
export interface RowProblem {
  line: number
  problem: string
}

/** A file with bad rows; nothing was applied. `problems` lists every one. */
export class RowsError extends BadInputError {
  constructor(
    readonly file: string,
    readonly problems: RowProblem[],
  ) {
    const head = problems
      .slice(0, 3)
      .map((p) => `line ${p.line}: ${p.problem}`)
      .join('; ')
    super(
      `${file}: ${problems.length} bad row${problems.length === 1 ? '' : 's'}, nothing applied (${head}${problems.length > 3 ? `; and ${problems.length - 3} more` : ''})`,
    )
    this.name = 'RowsError'
  }
}

/** Finds samples by the path an export writes: relative (unique across folders) or absolute. */
export function samplePathIndex(db: Db): (path: string) => { id: number } | { problem: string } {
  const byRel = new Map<string, number[]>()
  const byAbs = new Map<string, number>()
  for (const [id, loc] of sampleLocations(db)) {
    const ids = byRel.get(loc.path)
    if (ids) ids.push(id)
    else byRel.set(loc.path, [id])
    if (loc.kind === 'images') byAbs.set(join(loc.root, ...loc.path.split('/')), id)
  }
  return (raw) => {
    const p = raw.trim()
    if (!p) return { problem: 'empty path' }
    const abs = byAbs.get(p)
    if (abs !== undefined) return { id: abs }
    const rel = byRel.get(p.replace(/\\/g, '/'))
    if (!rel) return { problem: `no sample with path '${p}' in this project` }
    if (rel.length > 1) return { problem: `path '${p}' is in ${rel.length} folders of this project; give the absolute path` }
    return { id: rel[0]! }
  }
}

/** Reads a CSV with a header that must have `columns`; returns each data row by column name with its line. */
export function readRows(file: string, columns: string[]): { line: number; get: (c: string) => string; fields: number; expected: number }[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new BadInputError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
  if (text.includes('\0')) throw new BadInputError(`${file}: not a CSV file (it holds binary data)`)
  let recs
  try {
    recs = parseCsv(text, file)
  } catch (e) {
    throw new BadInputError((e as Error).message)
  }
  const head = recs.shift()
  if (!head) throw new BadInputError(`${file}: empty file (no header row)`)
  const header = head.cells.map((h) => h.trim().toLowerCase())
  const missing = columns.filter((c) => !header.includes(c))
  if (missing.length) throw new BadInputError(`${file}:1: the header row lacks ${missing.join(', ')} (expected ${columns.join(',')})`)
  const at = new Map(columns.map((c) => [c, header.indexOf(c)]))
  return recs.map((r) => ({
    line: r.line,
    fields: r.cells.length,
    expected: header.length,
    get: (c: string) => unguardCell((r.cells[at.get(c)!] ?? '').trim()),
  }))
}

export interface DecisionsRequest {
  /** CSV file `path,action,label,reviewer`. */
  file: string
  /** Run whose suggestions `accept` takes (default: the latest finished run). */
  runId?: number
  /** Reviewer for rows whose `reviewer` cell is empty. */
  reviewer?: string
}

export interface DecisionsOutcome {
  file: string
  runId: number | null
  applied: number
  byAction: Record<ReviewAction, number>
}

const ACTIONS: readonly ReviewAction[] = ['accept', 'keep', 'relabel', 'exclude']

/** Checks every row of a decisions file and applies them all in one transaction, or throws RowsError and applies none. */
export function applyDecisionsFile(db: Db, req: DecisionsRequest): DecisionsOutcome {
  let runId: number | null = null
  if (req.runId !== undefined) {
    const st = runStatus(db, req.runId)
    if (st === undefined) throw new BadInputError(`run ${req.runId} does not exist`)
    if (st !== 'done') throw new ConflictError(`run ${req.runId} is ${st}, not done`)
    runId = req.runId
  } else runId = latestDoneRunId(db) ?? null
  const rows = readRows(req.file, ['path', 'action', 'label', 'reviewer'])
  const classes = new Map(listClasses(db).map((c) => [c.name, c.idx]))
  const names = new Map([...classes].map(([n, i]) => [i, n]))
  const find = samplePathIndex(db)
  const seen = new Map<number, number>()
  const problems: RowProblem[] = []
  const decisions: Decision[] = []
  for (const r of rows) {
    const bad = (problem: string) => problems.push({ line: r.line, problem })
    if (r.fields !== r.expected) {
      bad(`${r.fields} fields, the header has ${r.expected}`)
      continue
    }
    const found = find(r.get('path'))
    const action = r.get('action').toLowerCase() as ReviewAction
    const label = r.get('label')
    const reviewer = r.get('reviewer') || req.reviewer?.trim() || ''
    if ('problem' in found) bad(found.problem)
    if (!ACTIONS.includes(action)) bad(`unknown action '${r.get('action')}' (accept, keep, relabel or exclude)`)
    if (!reviewer) bad('no reviewer')
    if (label && !classes.has(label)) bad(`unknown class '${label}' (classes: ${[...classes.keys()].join(', ')})`)
    if (!('id' in found) || !ACTIONS.includes(action) || !reviewer || (label && !classes.has(label))) continue
    const id = found.id
    const earlier = seen.get(id)
    if (earlier !== undefined) {
      bad(`the same sample as line ${earlier}`)
      continue
    }
    seen.set(id, r.line)
    const s = getSample(db, id)!
    const d: Decision = { sampleId: id, action, reviewer, ...(runId !== null ? { runId } : {}) }
    if (action === 'accept') {
      const refined = runId === null ? undefined : refinedLabelOf(db, runId, id)
      if (runId === null) bad('accept needs a finished refinement run; the project has none')
      else if (refined === undefined) bad(`run ${runId} has no suggestion for this sample`)
      else if (label && classes.get(label) !== refined)
        bad(`accept takes the suggestion '${names.get(refined)}', not '${label}' (use relabel for another class)`)
      else decisions.push(d)
    } else if (action === 'keep') {
      if (s.givenIdx === null) bad('keep needs a given label; this sample has none (use relabel)')
      else if (label && classes.get(label) !== s.givenIdx) bad(`keep keeps the given label '${s.givenLabel}', not '${label}' (use relabel)`)
      else decisions.push(d)
    } else if (action === 'relabel') {
      if (!label) bad('relabel needs a label')
      else decisions.push({ ...d, classIdx: classes.get(label)! })
    } else {
      if (label) bad(`exclude takes no label (got '${label}')`)
      else decisions.push(d)
    }
  }
  if (problems.length) throw new RowsError(req.file, problems)
  recordDecisions(db, decisions)
  const byAction: Record<ReviewAction, number> = { accept: 0, keep: 0, relabel: 0, exclude: 0 }
  for (const d of decisions) byAction[d.action]++
  return { file: req.file, runId, applied: decisions.length, byAction }
}
