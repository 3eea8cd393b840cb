/**
 * Use case: the whole pipeline in one call. Behind `qc run`: import into OUT/project.qcdb, extract
 * features (or use the imported embeddings), refine (method 'auto' by default), and write
 * OUT/refined.csv, whose header starts with path,given_label,refined_label,confidence,flagged (a
 * stable contract for scripts). Running it again on the same folder reuses what is stored.
 */
import { lstatSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { previousFileExportProblem, type ExportResult } from '../export/export.ts'
import { openDb } from '../store/db.ts'
import { checkReplaceFile } from '../util/atomic.ts'
import type { Split } from '../store/samples.ts'
import { exportProject } from './export.ts'
import { extractProjectFeatures, type ExtractContext, type ExtractOutcome, type ExtractRequest } from './extract.ts'
import { importIntoProject, type ImportOutcome, type ImportSource } from './import.ts'
import { refine, type RefineOutcome, type RefineRequest } from './refine.ts'

export interface PipelineRequest {
  /** Folder for project.qcdb and refined.csv (created). */
  outDir: string
  source: ImportSource
  split?: Split
  extract?: ExtractRequest
  refine?: RefineRequest
}

export interface PipelineOutcome {
  project: string
  refinedCsv: string
  imported: ImportOutcome
  extracted: ExtractOutcome
  refined: RefineOutcome
  exported: ExportResult
}

/** A finished step, reported as it finishes (a front end can show it before the next one ends). */
export type PipelineStep =
  | { step: 'imported'; outcome: ImportOutcome }
  | { step: 'extracted'; outcome: ExtractOutcome }
  | { step: 'refined'; outcome: RefineOutcome }
  | { step: 'exported'; outcome: ExportResult }

export interface PipelineContext extends ExtractContext {
  onStep?: (step: PipelineStep) => void
}

/** Runs import, extraction, refinement and the refined.csv export into `req.outDir`. */
export async function runPipeline(req: PipelineRequest, ctx: PipelineContext = {}): Promise<PipelineOutcome> {
  const out = resolve(req.outDir)
  const project = join(out, 'project.qcdb')
  // refined.csv is replaced only when an earlier export wrote it: checked before hours of import,
  // extraction and refinement, not after them (the export checks again when it writes).
  const refinedCsv = join(out, 'refined.csv')
  const st = lstatSync(refinedCsv, { throwIfNoEntry: false })
  if (st)
    checkReplaceFile(refinedCsv, st, (f, s) => {
      const why = previousFileExportProblem(f, s)
      return why === null ? null : `${why} (choose another --out folder, or move it)`
    })
  const db = openDb(project)
  try {
    const { progress, signal } = ctx
    const imported = await importIntoProject(db, { source: req.source, ...(req.split ? { split: req.split } : {}) }, { progress, signal })
    ctx.onStep?.({ step: 'imported', outcome: imported })
    const extracted = await extractProjectFeatures(db, req.extract ?? {}, ctx)
    ctx.onStep?.({ step: 'extracted', outcome: extracted })
    const refined = await refine(db, { ...req.refine, backboneId: extracted.backboneId }, { progress, signal })
    ctx.onStep?.({ step: 'refined', outcome: refined })
    const exported = await exportProject(db, { format: 'csv', out: refinedCsv, runId: refined.runId, force: true }, { progress, signal })
    ctx.onStep?.({ step: 'exported', outcome: exported })
    return { project, refinedCsv, imported, extracted, refined, exported }
  } finally {
    db.close()
  }
}
