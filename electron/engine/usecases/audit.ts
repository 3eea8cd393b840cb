/**
 * Use case: the audit of the final labels (the method: review/audit.ts). Behind `qc audit`, the
 * app's Audit screen (service section audit.ts), the summaries on Insights and Export, and the
 * export's provenance.
 *
 * - `planAudit`: the population and the size for a target precision, before anything is drawn.
 * - `startAudit`: counts the frame (the final labels as they stand, review/review.ts
 *   `currentLabels`, the one final-label rule), draws the seeded sample and stores both.
 * - `answerAudit` / `applyAnswersFile`: the auditor's classes, appended (one transaction; a file
 *   with a bad row applies nothing and reports every bad row with its line).
 * - `auditReport`: the estimate, overall and per class, from the answers and the labels as they
 *   stood when the audit was drawn. Review decisions made after the draw do not change it (the
 *   report says how many there were): an audit measures the labels at one moment, and fixing the
 *   mistakes it found must not make it look better.
 *
 * Blind: the items an auditor is shown (`auditItems`) carry the sample id, whether there is an
 * image, and the auditor's own answer; never the given label, the suggestion, the final label or
 * the path (an ImageFolder path names the given class).
 */
import { join } from 'node:path'
import { BadInputError, ConflictError, NotFoundError } from '../errors.ts'
import { drawSample, estimateAccuracy, sampleSize, type AccuracyFigure, type AuditFrame, type AuditStratum } from '../review/audit.ts'
import { currentLabels } from '../review/review.ts'
import { auditSamples, getAudit, insertAudit, insertAuditAnswer, latestAuditAnswers, listAudits, type AuditRow } from '../store/audits.ts'
import { listClasses, now, type Db } from '../store/db.ts'
import { reviewEvents } from '../store/reviews.ts'
import { latestDoneRunId, runStatus } from '../store/runs.ts'
import { sampleLocations } from '../store/samples.ts'
import { readRows, RowsError, samplePathIndex, type RowProblem } from './review.ts'

export type { AuditStratum } from '../review/audit.ts'

/** Defaults: ±3 points at the worst-case planning accuracy 0.5. */
export const AUDIT_DEFAULTS = { precision: 0.03, expected: 0.5 } as const

export interface AuditPlanRequest {
  /** 'all' (default): every labelled sample; 'unflagged': those the run did not flag. */
  stratum?: AuditStratum
  /** The run whose flags define the unflagged part (default: the latest finished run). */
  runId?: number
  /** Target half-width of the 95% interval (default 0.03). */
  precision?: number
  /** Planning accuracy (default 0.5, the worst case). */
  expected?: number
}

export interface AuditPlan {
  stratum: AuditStratum
  runId: number | null
  /** Samples the audit is drawn from. */
  population: number
  /** Samples with a final label outside the stratum (the run's flagged ones), 0 for 'all'. */
  outside: number
  /** Samples to label. */
  size: number
  /** The size before the finite-population correction. */
  n0: number
  precision: number
  expected: number
}

interface Framed {
  plan: AuditPlan
  frame: AuditFrame
  /** Candidate samples (the stratum) with their final label. */
  members: Map<number, number>
}

function resolveRun(db: Db, stratum: AuditStratum, runId: number | undefined): number | null {
  if (runId !== undefined) {
    const st = runStatus(db, runId)
    if (st === undefined) throw new NotFoundError(`run ${runId} does not exist`)
    if (st !== 'done') throw new ConflictError(`run ${runId} is ${st}, not done`)
    return runId
  }
  const latest = latestDoneRunId(db) ?? null
  if (latest === null && stratum === 'unflagged') throw new ConflictError('the unflagged part needs a finished refinement run: run one first')
  return latest
}

function frameOf(db: Db, req: AuditPlanRequest): Framed {
  const stratum = req.stratum ?? 'all'
  if (stratum !== 'all' && stratum !== 'unflagged') throw new BadInputError(`stratum must be 'all' or 'unflagged', got '${String(stratum)}'`)
  const precision = req.precision ?? AUDIT_DEFAULTS.precision
  const expected = req.expected ?? AUDIT_DEFAULTS.expected
  if (!(precision > 0 && precision < 0.5)) throw new BadInputError(`precision must be between 0 and 0.5 (a half-width, e.g. 0.03), got ${precision}`)
  if (!(expected > 0 && expected < 1)) throw new BadInputError(`the planning accuracy must be between 0 and 1, got ${expected}`)
  const runId = resolveRun(db, stratum, req.runId)
  const k = listClasses(db).length
  const cur = currentLabels(db, runId === null ? {} : { runId })
  const members = new Map<number, number>()
  const byClass = new Array<number>(k).fill(0)
  const rest = { size: 0, reviewed: 0, byClass: Array.from({ length: k }, () => ({ size: 0, reviewed: 0 })) }
  for (const r of cur.rows) {
    if (r.final === null) continue
    if (stratum === 'unflagged' && r.flagged === true) {
      rest.size++
      rest.byClass[r.final]!.size++
      if (r.status !== 'unreviewed') {
        rest.reviewed++
        rest.byClass[r.final]!.reviewed++
      }
      continue
    }
    members.set(r.sampleId, r.final)
    byClass[r.final]!++
  }
  const frame: AuditFrame = { stratum, size: members.size, byClass, rest: stratum === 'unflagged' ? rest : null }
  const { n, n0 } = sampleSize({ precision, expected, population: members.size })
  return { plan: { stratum, runId, population: members.size, outside: rest.size, size: n, n0, precision, expected }, frame, members }
}

/** The population and the audit size for a target precision; draws nothing. */
export function planAudit(db: Db, req: AuditPlanRequest = {}): AuditPlan {
  return frameOf(db, req).plan
}

/** An audit as a front end lists it. */
export interface AuditInfo {
  id: number
  runId: number | null
  stratum: AuditStratum
  seed: number
  precision: number
  expected: number
  /** Samples the audit was drawn from. */
  population: number
  /** Samples drawn, and how many have an answer. */
  size: number
  answered: number
  complete: boolean
  createdAt: string
  /** When the last answer came in (the audit's completion time once complete). */
  lastAnswerAt: string | null
}

function info(a: AuditRow): AuditInfo {
  const frame = JSON.parse(a.frame) as AuditFrame
  return {
    id: a.id,
    runId: a.runId,
    stratum: a.stratum,
    seed: a.seed,
    precision: a.precision,
    expected: a.expected,
    population: frame.size,
    size: a.drawn,
    answered: a.answered,
    complete: a.drawn > 0 && a.answered === a.drawn,
    createdAt: a.createdAt,
    lastAnswerAt: a.lastAnswerAt,
  }
}

function need(db: Db, auditId: number): AuditRow {
  const a = getAudit(db, auditId)
  if (!a) throw new NotFoundError(`audit ${auditId} does not exist`)
  return a
}

/** Draws and stores an audit (the seed defaults to a random one, recorded). */
export function startAudit(db: Db, req: AuditPlanRequest & { seed?: number } = {}): AuditInfo {
  const seed = req.seed ?? Math.floor(Math.random() * 2 ** 31)
  if (!Number.isInteger(seed) || seed < 0) throw new BadInputError(`seed must be a whole number >= 0, got ${seed}`)
  return db.transaction(() => {
    const { plan, frame, members } = frameOf(db, req)
    if (plan.size === 0)
      throw new ConflictError(`nothing to audit: no sample with a final label in ${plan.stratum === 'all' ? 'the project' : 'the unflagged part'}`)
    const drawn = drawSample([...members.keys()], plan.size, seed)
    const id = insertAudit(
      db,
      {
        runId: plan.runId,
        stratum: plan.stratum,
        seed,
        precision: plan.precision,
        expected: plan.expected,
        frame: JSON.stringify(frame),
        createdAt: now(),
      },
      drawn.map((sampleId) => ({ sampleId, finalIdx: members.get(sampleId)! })),
    )
    return info(getAudit(db, id)!)
  })()
}

/** Audits of the project, newest first. */
export function audits(db: Db): AuditInfo[] {
  return listAudits(db).map(info)
}

/** One audit. */
export function auditInfo(db: Db, auditId: number): AuditInfo {
  return info(need(db, auditId))
}

/** What the auditor sees of one drawn sample: no label, no path (module comment). */
export interface AuditItem {
  position: number
  sampleId: number
  hasImage: boolean
  /** The auditor's latest answer, or null. */
  answer: number | null
}

/** The drawn samples in draw order, blind. */
export function auditItems(db: Db, auditId: number): AuditItem[] {
  need(db, auditId)
  const answers = latestAuditAnswers(db, auditId)
  const loc = sampleLocations(db)
  return auditSamples(db, auditId).map((s) => ({
    position: s.position,
    sampleId: s.sampleId,
    hasImage: loc.get(s.sampleId)?.kind === 'images',
    answer: answers.get(s.sampleId)?.classIdx ?? null,
  }))
}

/**
 * The drawn samples' paths in draw order, as an answers file names them: relative to the image
 * folder when the project has one folder (as the export writes them), else the absolute file. For
 * the command line, where the auditor is handed the files: an ImageFolder path names the given
 * class, so hand over the images without their folders for a blind audit.
 */
export function auditPaths(db: Db, auditId: number): string[] {
  need(db, auditId)
  const loc = sampleLocations(db)
  const oneSource = new Set([...loc.values()].map((l) => `${l.kind}\0${l.root}`)).size <= 1
  return auditSamples(db, auditId).map((s) => {
    const l = loc.get(s.sampleId)!
    return oneSource || l.kind !== 'images' ? l.path : join(l.root, ...l.path.split('/'))
  })
}

export interface AuditAnswer {
  sampleId: number
  classIdx: number
  auditor: string
}

function checkAnswer(a: AuditAnswer, drawn: Set<number>, k: number): string | null {
  if (!drawn.has(a.sampleId)) return `sample ${a.sampleId} is not part of this audit`
  if (!Number.isInteger(a.classIdx) || a.classIdx < 0 || a.classIdx >= k) return `class index ${a.classIdx} does not exist (0..${k - 1})`
  if (!a.auditor?.trim()) return 'no auditor'
  return null
}

/** Appends answers to an audit in one transaction (all or none). Returns the audit's counts after. */
export function answerAudit(db: Db, auditId: number, answers: AuditAnswer[]): AuditInfo {
  need(db, auditId)
  const drawn = new Set(auditSamples(db, auditId).map((s) => s.sampleId))
  const k = listClasses(db).length
  for (const a of answers) {
    const why = checkAnswer(a, drawn, k)
    if (why) throw new BadInputError(why)
  }
  return db.transaction(() => {
    const at = now()
    for (const a of answers) insertAuditAnswer(db, { auditId, sampleId: a.sampleId, classIdx: a.classIdx, auditor: a.auditor.trim(), at })
    return info(getAudit(db, auditId)!)
  })()
}

/** The newest audit, or undefined. */
function latestAuditId(db: Db): number | undefined {
  return listAudits(db)[0]?.id
}

/**
 * Applies an answers file (`path,label,auditor`) to an audit (default: the newest): every row is
 * checked first and a file with a bad row applies nothing (RowsError lists each bad line).
 */
export function applyAnswersFile(db: Db, req: { file: string; auditId?: number; auditor?: string }): AuditInfo & { applied: number } {
  const auditId = req.auditId ?? latestAuditId(db)
  if (auditId === undefined) throw new ConflictError('the project has no audit yet: draw one first (qc audit --project P)')
  need(db, auditId)
  const rows = readRows(req.file, ['path', 'label', 'auditor'])
  const classes = new Map(listClasses(db).map((c) => [c.name, c.idx]))
  const drawn = new Set(auditSamples(db, auditId).map((s) => s.sampleId))
  const find = samplePathIndex(db)
  const problems: RowProblem[] = []
  const answers: AuditAnswer[] = []
  const seen = new Map<number, number>()
  for (const r of rows) {
    const bad = (problem: string) => problems.push({ line: r.line, problem })
    if (r.fields !== r.expected) {
      bad(`${r.fields} fields, the header has ${r.expected}`)
      continue
    }
    const found = find(r.get('path'))
    const label = r.get('label')
    const auditor = r.get('auditor') || req.auditor?.trim() || ''
    const before = problems.length
    if ('problem' in found) bad(found.problem)
    else if (!drawn.has(found.id)) bad(`'${r.get('path')}' is not one of the samples audit ${auditId} drew`)
    else if (seen.has(found.id)) bad(`the same sample as line ${seen.get(found.id)}`)
    if (!label) bad('no label')
    else if (!classes.has(label)) bad(`unknown class '${label}' (classes: ${[...classes.keys()].join(', ')})`)
    if (!auditor) bad('no auditor')
    if (problems.length > before || !('id' in found)) continue
    seen.set(found.id, r.line)
    answers.push({ sampleId: found.id, classIdx: classes.get(label)!, auditor })
  }
  if (problems.length) throw new RowsError(req.file, problems)
  return { ...answerAudit(db, auditId, answers), applied: answers.length }
}

/** An audit's estimate (review/audit.ts) with what a reader needs to weigh it. */
export interface AuditReport {
  audit: AuditInfo
  classes: string[]
  frame: AuditFrame
  overall: AccuracyFigure
  /** Per class idx, by the final label when drawn. */
  perClass: (AccuracyFigure & { idx: number; name: string })[]
  /** Answered samples whose final label the auditor disagreed with. */
  disagreements: { sampleId: number; path: string; final: string; auditor: string }[]
  /** Review decisions recorded after the audit was drawn (the report describes the labels before them). */
  reviewsSince: number
}

/** The estimate of an audit (answers so far; `audit.complete` says whether all are in). */
export function auditReport(db: Db, auditId: number): AuditReport {
  const a = need(db, auditId)
  const frame = JSON.parse(a.frame) as AuditFrame
  const classes = listClasses(db).map((c) => c.name)
  const answers = latestAuditAnswers(db, auditId)
  const loc = sampleLocations(db)
  const pairs: { final: number; truth: number }[] = []
  const disagreements: AuditReport['disagreements'] = []
  for (const s of auditSamples(db, auditId)) {
    const ans = answers.get(s.sampleId)
    if (!ans) continue
    pairs.push({ final: s.finalIdx, truth: ans.classIdx })
    if (ans.classIdx !== s.finalIdx)
      disagreements.push({
        sampleId: s.sampleId,
        path: loc.get(s.sampleId)?.path ?? '',
        final: classes[s.finalIdx] ?? String(s.finalIdx),
        auditor: classes[ans.classIdx] ?? String(ans.classIdx),
      })
  }
  const est = estimateAccuracy(pairs, frame)
  return {
    audit: info(a),
    classes,
    frame,
    overall: est.overall,
    perClass: est.perClass.map((f, idx) => ({ ...f, idx, name: classes[idx] ?? String(idx) })),
    disagreements,
    reviewsSince: reviewEvents(db).filter((e) => e.at >= a.createdAt).length,
  }
}

/** The report of the newest audit whose every drawn sample has an answer, or null. */
export function latestCompletedAudit(db: Db): AuditReport | null {
  const done = listAudits(db).find((a) => a.drawn > 0 && a.answered === a.drawn)
  return done ? auditReport(db, done.id) : null
}

/** The report of the newest audit (complete or not), or null without any. */
export function latestAuditReport(db: Db): AuditReport | null {
  const id = latestAuditId(db)
  return id === undefined ? null : auditReport(db, id)
}
