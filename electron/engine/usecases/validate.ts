/**
 * Use case: the proof-of-concept validation sweep. Behind `qc validate`: inject label noise
 * (symmetric, asymmetric, superclass) at the given rates into the training labels, refine with each
 * method, and measure against the trusted split; the sweep is stored in the project and, when an
 * output folder is named, written as validation.json, validation.csv and report.html.
 */
import { statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Db } from '../store/db.ts'
import type { Method, PllLoss } from '../train/types.ts'
import { checkReplaceFile, lstatOrNone, readHead, RefusedError, writeFileAtomic, type ReplaceableCheck } from '../util/atomic.ts'
import { formatCsv } from '../util/csv.ts'
import { CSV_HEADER } from '../validate/report/tabular.ts'
import { REPORT_GENERATOR } from '../validate/report/html.ts'
import type { ValidationNoise, ValidationResult } from '../validate/validate.ts'
import type { UseCaseContext } from './refine.ts'

export interface ValidateRequest {
  /** Noise models to inject (default ['symmetric']). */
  noiseTypes?: ValidationNoise[]
  /** Noise rates (default 0.2, 0.5, 0.8). */
  rates?: number[]
  /** One sweep per seed (default 0, 1, 2). */
  seeds?: number[]
  /** Methods compared (default teacher, sd, pll, cl). */
  methods?: Method[]
  /** SD is reported for rounds 1..sdRounds (default 3). */
  sdRounds?: number
  /** Regularisation for every cell (default 'auto'). */
  lambda?: number | 'auto'
  pllLoss?: PllLoss | 'auto'
  /** Which backbone's features (default: the latest one with features). */
  backboneId?: number
  /**
   * Folder for validation.json, validation.csv and report.html (created when missing). Earlier
   * files of those names are replaced only when seed-qc wrote them (`checkReportTarget`); anything
   * else there is refused before the sweep starts. None: nothing written.
   */
  outDir?: string
  /** Title of the HTML report. */
  title?: string
  /** Also simulate an inspector per noise draw: reviews in batches of `batch` up to `budget` (validate/review-sim.ts). */
  review?: { batch: number; budget: number }
}

export interface ValidateOutcome {
  validationId: number
  result: ValidationResult
  /** The report files written (null without `outDir`). */
  files: { json: string; csv: string; html: string } | null
}

export const VALIDATE_DEFAULTS = {
  noiseTypes: ['symmetric'] as ValidationNoise[],
  rates: [0.2, 0.5, 0.8],
  seeds: [0, 1, 2],
  methods: ['teacher', 'sd', 'pll', 'cl'] as Method[],
  sdRounds: 3,
}

/** Runs the sweep (recorded in the project) and writes the report files. */
export async function validateWithReport(db: Db, req: ValidateRequest = {}, ctx: UseCaseContext = {}): Promise<ValidateOutcome> {
  // Checked before the sweep, so a refused folder costs nothing; checked again at each write.
  const target = req.outDir !== undefined ? reportFiles(req.outDir) : undefined
  if (target) checkReportTarget(req.outDir!)
  // Loaded on demand: the sweep brings the training engines.
  const { validateProject } = await import('../validate/validate.ts')
  const { validationId, result } = await validateProject(
    db,
    {
      noiseTypes: req.noiseTypes ?? VALIDATE_DEFAULTS.noiseTypes,
      rates: req.rates ?? VALIDATE_DEFAULTS.rates,
      seeds: req.seeds ?? VALIDATE_DEFAULTS.seeds,
      methods: req.methods ?? VALIDATE_DEFAULTS.methods,
      sdRounds: req.sdRounds ?? VALIDATE_DEFAULTS.sdRounds,
      refineOptions: { lambda: req.lambda ?? 'auto', ...(req.pllLoss !== undefined ? { pllLoss: req.pllLoss } : {}) },
      ...(req.backboneId !== undefined ? { backboneId: req.backboneId } : {}),
      ...(req.review !== undefined ? { review: req.review } : {}),
    },
    ctx,
  )
  let files: ValidateOutcome['files'] = null
  if (target) {
    const report = await import('../validate/report.ts')
    files = target
    writeFileAtomic(files.json, report.toJson(result), { force: true, replaceable: REPLACEABLE.json })
    writeFileAtomic(files.csv, report.toCsv(result), { force: true, replaceable: REPLACEABLE.csv })
    writeFileAtomic(files.html, report.toHtml(result, { title: req.title ?? 'Label refinement PoC' }), {
      force: true,
      replaceable: REPLACEABLE.html,
    })
  }
  return { validationId, result, files }
}

function reportFiles(outDir: string): { json: string; csv: string; html: string } {
  const dir = resolve(outDir)
  return { json: join(dir, 'validation.json'), csv: join(dir, 'validation.csv'), html: join(dir, 'report.html') }
}

const NOT_OURS = 'exists and was not written by qc validate (move it, or choose another --out folder)'

/** Which existing report files may be replaced: those an earlier `qc validate` wrote, recognised by their content. */
const REPLACEABLE: Record<'json' | 'csv' | 'html', ReplaceableCheck> = {
  json: (file) => {
    try {
      const v = JSON.parse(readHead(file, 64 << 20)) as Record<string, unknown> | null
      return v && v.version === 1 && typeof v.config === 'object' && Array.isArray(v.cells) && Array.isArray(v.summary) ? null : NOT_OURS
    } catch {
      return NOT_OURS
    }
  },
  csv: (file) => {
    const first = formatCsv([[...CSV_HEADER]]).split(/\r?\n/)[0]!
    const text = readHead(file, first.length + 8).replace(/^\uFEFF/, '')
    return text.split(/\r?\n/)[0] === first ? null : NOT_OURS
  },
  html: (file) => {
    const text = readHead(file, 4096)
    // Reports from before the generator tag carry this exact policy line in their head.
    const older = `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"/>`
    return text.startsWith('<!DOCTYPE html>') && (text.includes(`content="${REPORT_GENERATOR}"`) || text.includes(older)) ? null : NOT_OURS
  },
}

/**
 * Refuses (RefusedError, naming the file and why) an output folder where writing the report would
 * replace something seed-qc did not write: a file that is not a folder at `outDir`, or a
 * validation.json / validation.csv / report.html there that is a link, a folder or another
 * program's file. Other files in the folder are never touched.
 */
export function checkReportTarget(outDir: string): void {
  const dir = resolve(outDir)
  // The folder itself may be a link to a folder (followed); the report files may not be links.
  const st = statSync(dir, { throwIfNoEntry: false })
  if (st && !st.isDirectory()) throw new RefusedError(dir, 'is not a folder')
  if (!st) return
  const files = reportFiles(dir)
  for (const key of ['json', 'csv', 'html'] as const) {
    const f = files[key]
    const s = lstatOrNone(f)
    if (s) checkReplaceFile(f, s, REPLACEABLE[key])
  }
}
