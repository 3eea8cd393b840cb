/**
 * Use case: import samples into a project. Behind `qc import` and the import step of `qc run`:
 * an image folder (ImageFolder layout), a CSV manifest (paths and labels, images resolved against
 * a folder), or a user's own embeddings (.npy with a labels CSV). Says what was added, what was
 * there already, and what was skipped and why; an import that could take nothing fails.
 */
import { resolve } from 'node:path'
import type { ImportSummary } from '../import/common.ts'
import type { Db } from '../store/db.ts'
import type { Split } from '../store/samples.ts'
import type { Confinement } from '../util/confine.ts'
import type { UseCaseContext } from './refine.ts'

/** What to import. Paths may be relative (to the working directory). */
export type ImportSource =
  | { kind: 'folder'; root: string }
  | { kind: 'csv'; csvFile: string; imagesRoot?: string }
  | { kind: 'embeddings'; npyFile: string; labelsCsv: string; backbone?: string }

export interface ImportRequest {
  source: ImportSource
  /** Split for samples that do not name one (default 'train'). */
  split?: Split
  /**
   * Folders the import may read (web mode). The named files and folders are checked by the
   * caller; here, links and CSV rows that lead elsewhere are skipped with a reason, not read.
   */
  confinement?: Confinement
}

export interface ImportOutcome extends ImportSummary {
  /** The feature space of imported embeddings (only for `kind: 'embeddings'`). */
  backboneId?: number
  /** How many files were skipped for each reason, commonest first. */
  skippedReasons: { reason: string; count: number }[]
}

/** Thrown when every entry of an import was skipped; carries the summary so a front end can show it. */
export class NothingImportedError extends Error {
  readonly outcome: ImportOutcome
  constructor(outcome: ImportOutcome) {
    const first = outcome.skipped[0]
    super(`nothing could be imported: all ${outcome.skipped.length} entries were skipped${first ? ` (first: ${first.path}: ${first.reason})` : ''}`)
    this.name = 'NothingImportedError'
    this.outcome = outcome
  }
}

/** Skip counts per reason, commonest first (ties in order of first appearance). */
export function countReasons(skipped: { reason: string }[]): { reason: string; count: number }[] {
  const counts = new Map<string, number>()
  for (const s of skipped) counts.set(s.reason, (counts.get(s.reason) ?? 0) + 1)
  return [...counts].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count)
}

/**
 * Imports `req.source` into the open project. Throws NothingImportedError when entries were found
 * but none could be imported (all skipped); an empty source is not an error.
 */
export async function importIntoProject(db: Db, req: ImportRequest, ctx: UseCaseContext = {}): Promise<ImportOutcome> {
  const common = { ...(req.split ? { split: req.split } : {}), ...ctx }
  const src = req.source
  let summary: ImportSummary & { backboneId?: number }
  // Importers are loaded on demand: image decoding (sharp) loads native code.
  if (src.kind === 'embeddings') {
    const { importEmbeddings } = await import('../import/embeddings.ts')
    summary = await importEmbeddings(db, resolve(src.npyFile), resolve(src.labelsCsv), {
      ...common,
      ...(src.backbone ? { backbone: src.backbone } : {}),
    })
  } else if (src.kind === 'csv') {
    const { importCsv } = await import('../import/csv-manifest.ts')
    summary = await importCsv(db, resolve(src.csvFile), {
      ...common,
      ...(src.imagesRoot ? { imagesRoot: resolve(src.imagesRoot) } : {}),
      ...(req.confinement ? { confinement: req.confinement } : {}),
    })
  } else {
    const { importImageFolder } = await import('../import/image-folder.ts')
    summary = await importImageFolder(db, resolve(src.root), { ...common, ...(req.confinement ? { confinement: req.confinement } : {}) })
  }
  const outcome: ImportOutcome = { ...summary, skippedReasons: countReasons(summary.skipped) }
  if (outcome.added + outcome.existing === 0 && outcome.skipped.length > 0) throw new NothingImportedError(outcome)
  return outcome
}
