/**
 * Use case: export the final labels of a project. Behind `qc export` and the refined.csv of
 * `qc run`: CSV or JSON (one record per sample: given, refined and final label, review status) or
 * an ImageFolder tree of the images sorted by final label (copied or hard-linked).
 */
import { resolve } from 'node:path'
import type { ExportFormat, ExportResult } from '../export/export.ts'
import type { Db } from '../store/db.ts'
import type { UseCaseContext } from './refine.ts'

export interface ExportRequest {
  format: ExportFormat
  /** File (csv, json) or folder (imagefolder) to create; relative to the working directory. */
  out: string
  /** Run whose suggestions are exported (default: the latest finished run). */
  runId?: number
  /** Only samples with a review decision. */
  onlyReviewed?: boolean
  /** Unreviewed flagged samples take the refined label. */
  autoAccept?: boolean
  /** imagefolder: hard-link the images instead of copying them (falls back to a copy across devices). */
  hardlink?: boolean
  /** Replace an earlier export at `out`. */
  force?: boolean
  /** Recorded in the export's provenance (default: package.json's version). */
  appVersion?: string
}

/** Writes the export and says what it wrote. */
export async function exportProject(db: Db, req: ExportRequest, ctx: UseCaseContext = {}): Promise<ExportResult> {
  const { exportLabels } = await import('../export/export.ts')
  return exportLabels(db, {
    format: req.format,
    out: resolve(req.out),
    ...(req.runId !== undefined ? { runId: req.runId } : {}),
    onlyReviewed: req.onlyReviewed === true,
    autoAccept: req.autoAccept === true,
    link: req.hardlink ? 'hardlink' : 'copy',
    force: req.force === true,
    ...(req.appVersion !== undefined ? { appVersion: req.appVersion } : {}),
    ...ctx,
  })
}
