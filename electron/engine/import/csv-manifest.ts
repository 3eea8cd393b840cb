/**
 * Import from a CSV manifest: columns `path,label`, optional `split` and `trusted_label` (any
 * order, names case-insensitive, other columns ignored). A relative path is resolved against
 * `imagesRoot` when given, else against the CSV's own folder; absolute paths are allowed.
 *
 * Where samples are stored: the source root is `imagesRoot` (or the CSV's folder) and each sample
 * path is stored relative to it. A file outside that root is stored under a source rooted at the
 * file's own folder (path = its file name), so every sample stays `source.root + '/' + path` and
 * a re-import finds it again; the summary's `notes` say how many such files there were.
 *
 * Under a confinement (web mode), a row whose file lies, by real path, outside the allowed
 * folders is skipped with a reason: the file is not read.
 */
import { stat } from 'node:fs/promises'
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path'
import type { Db } from '../store/db.ts'
import { ensureSource, toStoredPath, type Split } from '../store/samples.ts'
import { readCsvTable, unguardCell } from '../util/csv.ts'
import { OUTSIDE_REASON, type Confinement } from '../util/confine.ts'
import { ImportRun, type Candidate, type ImportOptions, type ImportSummary } from './common.ts'

export interface CsvImportOptions extends ImportOptions {
  /** Folder that relative paths in the CSV are resolved against (default: the CSV's folder). */
  imagesRoot?: string
  /** Column that holds the given label (default 'label'; e.g. 'final_label' to re-import an export). */
  labelColumn?: string
  /** Folders the import may read (web mode); rows naming a file elsewhere are skipped. */
  confinement?: Confinement
}

/** Parses a split cell: '' -> fallback; train/test (also 'val'/'valid'/'validation' -> test). */
export function parseSplit(v: string, fallback: Split): Split | undefined {
  const s = v.trim().toLowerCase()
  if (s === '') return fallback
  if (s === 'train' || s === 'training') return 'train'
  if (s === 'test' || s === 'val' || s === 'valid' || s === 'validation') return 'test'
  return undefined
}

/** Imports the images a CSV manifest lists; bad rows and bad files are skipped with a reason. */
export async function importCsv(db: Db, csvFile: string, opts: CsvImportOptions = {}): Promise<ImportSummary> {
  const csvAbs = resolve(csvFile)
  const labelColumn = (opts.labelColumn ?? 'label').toLowerCase()
  const table = readCsvTable(csvAbs, { required: ['path', labelColumn] })
  const root = resolve(opts.imagesRoot ?? dirname(csvAbs))
  if (opts.imagesRoot !== undefined) {
    const st = await stat(root).catch(() => undefined)
    if (!st?.isDirectory()) throw new Error(`${root}: images folder not found (named by --images for ${csvAbs})`)
  }
  const iPath = table.col('path')
  const iLabel = table.col(labelColumn)
  const iSplit = table.col('split')
  const iTrusted = table.col('trusted_label')
  const fallback = opts.split ?? 'train'
  const rootSource = ensureSource(db, 'images', root)
  const skips: { path: string; reason: string }[] = []
  const candidates: Candidate[] = []
  const seen = new Map<string, number>()
  let outside = 0
  for (const r of table.rows) {
    const raw = unguardCell(r.cells[iPath]!.trim())
    if (!raw) {
      skips.push({ path: `${basename(csvAbs)}:${r.line}`, reason: `line ${r.line}: empty path` })
      continue
    }
    const split = iSplit >= 0 ? parseSplit(r.cells[iSplit]!, fallback) : fallback
    if (!split) {
      skips.push({ path: raw, reason: `line ${r.line}: split must be train or test, got '${r.cells[iSplit]}'` })
      continue
    }
    const file = isAbsolute(raw) ? resolve(raw) : resolve(root, raw)
    const prev = seen.get(file)
    if (prev !== undefined) {
      skips.push({ path: raw, reason: `line ${r.line}: duplicate of line ${prev}` })
      continue
    }
    seen.set(file, r.line)
    if (opts.confinement && opts.confinement.resolve(file) === undefined) {
      skips.push({ path: raw, reason: `line ${r.line}: ${OUTSIDE_REASON}` })
      continue
    }
    const rel = relative(root, file)
    let sourceId = rootSource
    let path: string
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      sourceId = ensureSource(db, 'images', dirname(file))
      path = basename(file)
      outside++
    } else {
      path = toStoredPath(rel)
    }
    const given = unguardCell(r.cells[iLabel]!.trim())
    const trusted = iTrusted >= 0 ? unguardCell(r.cells[iTrusted]!.trim()) : ''
    const splitStated = iSplit >= 0 && r.cells[iSplit]!.trim() !== ''
    candidates.push({ sourceId, path, file, split, splitStated, given: given || null, trusted: trusted || null })
  }
  const run = new ImportRun(db, 'csv', csvAbs, rootSource, opts)
  const names = new Set<string>()
  for (const c of candidates) {
    if (c.given) names.add(c.given)
    if (c.trusted) names.add(c.trusted)
  }
  run.declareClasses([...names].sort())
  if (outside) run.summary.notes.push(`${outside} file(s) lie outside ${root}; each is stored under a source rooted at its own folder`)
  // A validation split has no place of its own here: said, not done silently.
  if (iSplit >= 0) {
    const vals = table.rows.filter((r) => ['val', 'valid', 'validation'].includes(r.cells[iSplit]!.trim().toLowerCase())).length
    if (vals)
      run.summary.notes.push(
        `${vals} row(s) with split val/valid/validation were imported as test (held out from training, used to measure): the tool has train and test only`,
      )
  }
  return run.run(candidates, skips)
}
