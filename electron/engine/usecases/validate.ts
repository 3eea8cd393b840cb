/**
 * Use case: the proof-of-concept validation sweep. Behind `qc validate`: inject label noise
 * (symmetric, asymmetric, superclass) at the given rates into the training labels, refine with each
 * method, and measure against the trusted split; the sweep is stored in the project and, when an
 * output folder is named, written as validation.json, validation.csv and report.html.
 */
import { join, resolve } from 'node:path'
import type { Db } from '../store/db.ts'
import type { Method, PllLoss } from '../train/types.ts'
import { writeFileAtomic } from '../util/atomic.ts'
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
  /** Folder for validation.json, validation.csv and report.html (created; earlier files replaced). None: nothing written. */
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
  if (req.outDir !== undefined) {
    const report = await import('../validate/report.ts')
    const dir = resolve(req.outDir)
    files = { json: join(dir, 'validation.json'), csv: join(dir, 'validation.csv'), html: join(dir, 'report.html') }
    writeFileAtomic(files.json, report.toJson(result), { force: true })
    writeFileAtomic(files.csv, report.toCsv(result), { force: true })
    writeFileAtomic(files.html, report.toHtml(result, { title: req.title ?? 'Label refinement PoC' }), { force: true })
  }
  return { validationId, result, files }
}
