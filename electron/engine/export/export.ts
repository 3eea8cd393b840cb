/**
 * Export of the current labels (review.ts `currentLabels`; the final label follows the one rule in
 * store/labels.ts, which the review grid's read model shares):
 * - 'csv': one row per sample. The header starts exactly with
 *   `path,given_label,refined_label,confidence,flagged` — `qc run` writes OUT/refined.csv in this
 *   format and outside scripts depend on it, so only ever append columns.
 * - 'json': `{ provenance, columns, samples: [...] }` with the same fields per sample.
 * - 'imagefolder': `out/<final_label>/<file>` (copies or hard links) with manifest.csv (the CSV
 *   columns plus `exported_as`) and provenance.json inside.
 * Excluded samples are left out unless asked. Everything is written atomically (a file via temp +
 * rename, a folder built in a temp sibling then renamed) and nothing existing is replaced
 * without `force`. CSV cells are guarded against formula injection (util/csv.ts).
 *
 * Safety (see `checkExportTarget`): an export never destroys what it did not create. Refused, with
 * or without `force` and before anything is written: an output that is, contains or lies inside
 * an image folder of the project (table `sources`), that is or contains its embeddings file, the
 * project file or its -wal/-shm/-journal, or a registered sample image. Paths are compared by real
 * path, so symbolic links do not get around it. With `force`, an existing output is replaced only
 * when it is a previous export of this product or empty:
 * - csv/json file: its first line is the stable CSV header
 *   `path,given_label,refined_label,confidence,flagged` (followed by ',' or the line end), or it
 *   is a JSON export whose text starts with `{ "provenance": { "app": "seed-qc"`; or it is empty
 *   (0 bytes). Never a symbolic link or a folder.
 * - imagefolder folder: an empty folder, or a folder with our provenance.json (`app` "seed-qc",
 *   `format` "imagefolder") and manifest.csv, holding nothing but the files its manifest lists
 *   under `exported_as` (and OS litter such as .DS_Store). Files a user added to it keep it from
 *   being replaced.
 *
 * The `path` column: the sample path relative to its source root when every exported sample
 * comes from one source (the usual case), otherwise the absolute file. For an embeddings project
 * it is the label CSV's first column (id or path).
 */
import { copyFile, link, mkdir, rm, writeFile } from 'node:fs/promises'
import { lstatSync, readdirSync, readFileSync, realpathSync, type Stats } from 'node:fs'
import { extname, basename, dirname, join, resolve, sep } from 'node:path'
import type { Db } from '../store/db.ts'
import { listSources, sampleFile, sampleLocations, type SampleLocation } from '../store/samples.ts'
import { backboneById } from '../store/backbones.ts'
import { finalLabelRuleText } from '../store/labels.ts'
import { runProvenance } from '../store/runs.ts'
import { currentLabels, type LabelRow } from '../review/review.ts'
import { latestCompletedAudit } from '../usecases/audit.ts'
import { formatCsv, parseCsv, unguardCell, type CsvValue } from '../util/csv.ts'
import { commitDirAtomic, ExistsError, readHead, RefusedError, tempSibling, writeFileAtomic } from '../util/atomic.ts'
import { CancelledError, type Progress } from '../jobs/progress.ts'

/** The manifest columns, in order. Append only: the first five are a public contract. */
export const EXPORT_COLUMNS = [
  'path',
  'given_label',
  'refined_label',
  'confidence',
  'flagged',
  'final_label',
  'review_status',
  'reviewer',
  'reviewed_at',
  'split',
  'top1_label',
  'top1_prob',
  'top2_label',
  'top2_prob',
  'sample_hash',
] as const

export type ExportFormat = 'csv' | 'json' | 'imagefolder'

export interface ExportOptions {
  format: ExportFormat
  /** The file (csv/json) or folder (imagefolder) to create. */
  out: string
  /** Run whose suggestions are exported (default: latest finished run; none is fine). */
  runId?: number
  /** Only samples with a live review decision. */
  onlyReviewed?: boolean
  /** Keep excluded samples (final_label empty, review_status 'excluded'). Default false. */
  includeExcluded?: boolean
  /** Replace an existing file or folder. */
  force?: boolean
  /** imagefolder: copy files (default) or hard-link them (falls back to copy across devices). */
  link?: 'copy' | 'hardlink'
  /** Unreviewed flagged samples take the refined label (see review.ts). */
  autoAccept?: boolean
  /** Recorded in provenance; default: package.json's version. */
  appVersion?: string
  progress?: Progress
  signal?: AbortSignal
}

export interface ExportResult {
  out: string
  format: ExportFormat
  runId: number | null
  /** Samples written. */
  written: number
  /** Excluded samples left out. */
  excluded: number
  /** Samples whose final label differs from the given one. */
  changed: number
  /** Samples that could not be written (imagefolder: no final label, file missing). */
  skipped: { path: string; reason: string }[]
  /** Of those, the images that could not be read (moved or deleted since the import); imagefolder only. */
  unreadable: { path: string; reason: string }[]
  /** imagefolder with hardlink: how many fell back to a copy. */
  copiedInsteadOfLinked?: number
}

/** Export row: one sample's fields under EXPORT_COLUMNS names. */
export type ExportRecord = Record<(typeof EXPORT_COLUMNS)[number], string | number | null>

const round6 = (x: number | null) => (x === null ? null : Math.round(x * 1e6) / 1e6)

function appVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

/** The source of a sample: kind, root and the stored path. */
export type SampleSource = SampleLocation

/** What an export would write (see prepareExport). */
export interface Prepared {
  rows: LabelRow[]
  /** Where each sample comes from, by sample id. */
  sources: Map<number, SampleSource>
  records: ExportRecord[]
  excluded: number
  runId: number | null
  provenance: Record<string, unknown>
}

/** Computes what an export would contain (also used for the export screen's preview counts). */
export function prepareExport(db: Db, opts: Omit<ExportOptions, 'format' | 'out'> & { format?: ExportFormat; out?: string }): Prepared {
  const cur = currentLabels(db, { runId: opts.runId, autoAccept: opts.autoAccept })
  const src = sampleLocations(db)
  let excluded = 0
  const kept = cur.rows.filter((r) => {
    if (opts.onlyReviewed && r.status === 'unreviewed') return false
    if (r.status === 'excluded' && !opts.includeExcluded) {
      excluded++
      return false
    }
    return true
  })
  const rows = kept
  const oneSource = new Set(rows.map((r) => src.get(r.sampleId)!.root + '\0' + src.get(r.sampleId)!.kind)).size <= 1
  const records: ExportRecord[] = rows.map((r) => ({
    path:
      oneSource || src.get(r.sampleId)!.kind === 'embeddings'
        ? r.path
        : (sampleFile({ sourceKind: 'images', sourceRoot: src.get(r.sampleId)!.root, path: r.path }) ?? r.path),
    given_label: r.givenLabel,
    refined_label: r.refinedLabel,
    confidence: round6(r.confidence),
    flagged: r.flagged === null ? null : r.flagged ? 1 : 0,
    final_label: r.finalLabel,
    review_status: r.finalSource === 'refined' ? 'auto-accepted' : r.status,
    reviewer: r.reviewer,
    reviewed_at: r.reviewedAt,
    split: r.split,
    top1_label: r.top1Label,
    top1_prob: round6(r.top1Prob),
    top2_label: r.top2Label,
    top2_prob: round6(r.top2Prob),
    sample_hash: r.hash,
  }))
  const run = cur.runId === null ? undefined : runProvenance(db, cur.runId)
  const bb = run?.backboneId ? backboneById(db, run.backboneId) : undefined
  const backbone = bb ? { id: bb.id, name: bb.name, kind: bb.kind, dim: bb.dim, sha256: bb.model_sha256 } : undefined
  let params: unknown = run?.params
  try {
    params = run ? JSON.parse(run.params) : undefined
  } catch {
    /* keep the raw text */
  }
  const provenance = {
    app: 'seed-qc',
    appVersion: opts.appVersion ?? appVersion(),
    projectFile: (db as unknown as { name?: string }).name ?? null,
    exportedAt: new Date().toISOString(),
    format: opts.format ?? null,
    run: run ? { id: run.id, method: run.method, params, seed: run.seed, finishedAt: run.finishedAt } : null,
    backbone: backbone ?? null,
    classes: cur.classes,
    sources: listSources(db).map((s) => ({ kind: s.kind, root: s.root })),
    options: { onlyReviewed: !!opts.onlyReviewed, includeExcluded: !!opts.includeExcluded, autoAccept: !!opts.autoAccept },
    finalLabelRule: finalLabelRuleText(opts.autoAccept),
    counts: { samples: records.length, excluded, changed: rows.filter((r) => r.final !== null && r.final !== r.given).length },
    audit: auditProvenance(db),
  }
  return { rows, sources: src, records, excluded, runId: cur.runId, provenance }
}

/**
 * The latest completed audit (usecases/audit.ts), as the provenance records it: the estimated
 * accuracy of the final labels with its 95% interval, the sample, the stratum and the seed; null
 * when the project has none. `reviewsSince` counts review decisions made after it was drawn, which
 * it does not measure.
 */
function auditProvenance(db: Db): Record<string, unknown> | null {
  const r = latestCompletedAudit(db)
  if (!r) return null
  const o = r.overall
  return {
    id: r.audit.id,
    stratum: r.audit.stratum,
    runId: r.audit.runId,
    seed: r.audit.seed,
    n: o.n,
    population: r.frame.size + (r.frame.rest?.size ?? 0),
    drawnAt: r.audit.createdAt,
    completedAt: r.audit.lastAnswerAt,
    accuracy: o.overall.estimate,
    interval: { lo: o.overall.lo, hi: o.overall.hi, level: 0.95, method: r.frame.rest ? 'wilson, scaled from the unflagged stratum' : 'wilson' },
    ...(r.frame.rest ? { stratumAccuracy: o.stratum.estimate, stratumInterval: o.stratum.wilson, stratumPopulation: r.frame.size } : {}),
    reviewsSince: r.reviewsSince,
  }
}

function csvText(records: ExportRecord[], extra?: { name: string; values: CsvValue[] }): string {
  const header: CsvValue[] = [...EXPORT_COLUMNS, ...(extra ? [extra.name] : [])]
  return formatCsv([header, ...records.map((r, i) => [...EXPORT_COLUMNS.map((c) => r[c]), ...(extra ? [extra.values[i]] : [])])])
}

/** A class name made safe as a folder name on Windows, macOS and Linux. */
export function safeDirName(name: string): string {
  // Control characters (code points below 32) are not allowed in Windows file names either.
  let s = [...name.normalize('NFC')]
    .map((ch) => (ch.charCodeAt(0) < 32 || '<>:"/\\|?*'.includes(ch) ? '_' : ch))
    .join('')
    .replace(/[. ]+$/, '')
  if (s === '' || s === '.' || s === '..') s = '_'
  if (/^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i.test(s)) s = `_${s}`
  return s
}

/**
 * The first line of every CSV export (and ImageFolder manifest) starts with these columns; a file
 * whose first line does is recognised as a previous export of ours.
 */
export const CSV_HEADER_PREFIX = EXPORT_COLUMNS.slice(0, 5).join(',')

const CASE_INSENSITIVE_FS = process.platform === 'win32' || process.platform === 'darwin'

function lstatOrNone(p: string): Stats | undefined {
  try {
    return lstatSync(p)
  } catch {
    return undefined
  }
}

/**
 * The real location of `p`: realpath of its longest existing part (symbolic links resolved) with
 * the rest appended; case-folded where file systems usually ignore case.
 */
function realLocation(p: string): string {
  let cur = resolve(p)
  const rest: string[] = []
  for (;;) {
    try {
      const real = realpathSync.native(cur)
      const full = rest.length ? join(real, ...rest) : real
      return CASE_INSENSITIVE_FS ? full.toLowerCase() : full
    } catch {
      const up = dirname(cur)
      if (up === cur) return CASE_INSENSITIVE_FS ? resolve(p).toLowerCase() : resolve(p)
      rest.unshift(basename(cur))
      cur = up
    }
  }
}

/** True when `a` is `b` or lies inside it (both real locations). */
function within(a: string, b: string): boolean {
  return a === b || a.startsWith(b.endsWith(sep) ? b : b + sep)
}

/**
 * Refuses (RefusedError) an export to `out` that would write over, into or around what the
 * project reads: its image folders, its embeddings files, the project file (and -wal/-shm/-journal)
 * and, when `out` exists, any registered sample image (each compared by real path, so a sample
 * that is a link to a file elsewhere counts too).
 */
export function checkExportTarget(db: Db, out: string): void {
  const real = realLocation(out)
  const guards: { real: string; what: string; folder: boolean }[] = []
  for (const s of listSources(db)) {
    guards.push(
      s.kind === 'images'
        ? { real: realLocation(s.root), what: `the image folder ${s.root} of this project`, folder: true }
        : { real: realLocation(s.root), what: `the embeddings file ${s.root} of this project`, folder: false },
    )
  }
  const projectFile = (db as unknown as { name?: string }).name
  if (projectFile && projectFile !== ':memory:') {
    for (const suffix of ['', '-wal', '-shm', '-journal'])
      guards.push({ real: realLocation(projectFile + suffix), what: `the project file ${projectFile}${suffix}`, folder: false })
  }
  for (const g of guards) {
    if (real === g.real) throw new RefusedError(out, `is ${g.what}`)
    if (g.folder && within(real, g.real)) throw new RefusedError(out, `lies inside ${g.what}`)
    if (within(g.real, real)) throw new RefusedError(out, `contains ${g.what}`)
  }
  // Sample files can be links to anywhere: compare each one's real path when something is there.
  if (!lstatOrNone(out)) return
  for (const { kind, root, path } of sampleLocations(db).values()) {
    if (kind !== 'images') continue
    const file = sampleFile({ sourceKind: 'images', sourceRoot: root, path })!
    const r = realLocation(file)
    if (r === real) throw new RefusedError(out, `is the registered sample image ${file} of this project`)
    if (within(r, real)) throw new RefusedError(out, `contains the registered sample image ${file} of this project`)
  }
}

function startsWithCsvHeader(text: string): boolean {
  const t = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  return t.startsWith(CSV_HEADER_PREFIX) && (t.length === CSV_HEADER_PREFIX.length || ',\r\n'.includes(t[CSV_HEADER_PREFIX.length]!))
}

const JSON_EXPORT_START = /^\uFEFF?\{\s*"provenance"\s*:\s*\{\s*"app"\s*:\s*"seed-qc"/

/**
 * Null when the existing file `file` may be replaced by a csv/json export (a previous export of
 * ours, either format, or an empty file); otherwise why not.
 */
export function previousFileExportProblem(file: string, st: Stats): string | null {
  if (st.size === 0) return null
  const text = readHead(file, 4096)
  if (startsWithCsvHeader(text)) {
    // A column we never write means someone added to the file: their work, not replaced.
    const header = (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).split(/\r?\n/)[0]!.split(',')
    const own = new Set<string>(EXPORT_COLUMNS)
    const added = header.filter((c) => !own.has(c))
    if (added.length) return `has columns seed-qc does not write (${added.slice(0, 3).join(', ')}): edited since the export, not replaced`
    return null
  }
  if (JSON_EXPORT_START.test(text)) return null
  return `is not a previous seed-qc export (a CSV export starts with the line "${CSV_HEADER_PREFIX}...", a JSON export with its seed-qc provenance), not replaced`
}

/** OS litter that may appear in an export folder opened in a file manager. */
const LITTER = new Set(['.DS_Store', 'Thumbs.db', 'desktop.ini'])

/**
 * Null when the existing folder `dir` may be replaced by an ImageFolder export: empty, or a
 * previous ImageFolder export of ours (provenance.json says so) holding only what its
 * manifest.csv lists; otherwise why not.
 */
export function previousFolderExportProblem(dir: string): string | null {
  const top = readdirSync(dir)
  if (top.length === 0) return null
  const notOurs =
    'is a folder that is neither empty nor a previous seed-qc ImageFolder export (no seed-qc provenance.json and manifest.csv in it), not replaced'
  const provFile = join(dir, 'provenance.json')
  const manFile = join(dir, 'manifest.csv')
  if (!lstatOrNone(provFile)?.isFile() || !lstatOrNone(manFile)?.isFile()) return notOurs
  let listed: Set<string>
  try {
    const prov = JSON.parse(readFileSync(provFile, 'utf8')) as { app?: unknown; format?: unknown }
    if (prov.app !== 'seed-qc' || prov.format !== 'imagefolder') return notOurs
    const recs = parseCsv(readFileSync(manFile, 'utf8'), manFile)
    const header = recs[0]?.cells ?? []
    const col = header.indexOf('exported_as')
    if (!startsWithCsvHeader(header.join(',')) || col < 0) return notOurs
    listed = new Set(recs.slice(1).map((r) => unguardCell(r.cells[col] ?? '')))
  } catch {
    return notOurs
  }
  // Everything in it must be what that export wrote: class folders holding listed files.
  const foreign: string[] = []
  for (const name of top) {
    if (name === 'provenance.json' || name === 'manifest.csv' || LITTER.has(name)) continue
    const st = lstatOrNone(join(dir, name))
    if (!st?.isDirectory()) {
      foreign.push(name)
      continue
    }
    for (const f of readdirSync(join(dir, name))) {
      if (LITTER.has(f)) continue
      if (!listed.has(`${name}/${f}`) || !lstatOrNone(join(dir, name, f))?.isFile()) foreign.push(`${name}/${f}`)
    }
  }
  if (foreign.length === 0) return null
  const some = foreign.slice(0, 3).join(', ') + (foreign.length > 3 ? ` and ${foreign.length - 3} more` : '')
  return `is a previous ImageFolder export but holds entries that export did not write (${some}): move them away or choose another folder; not replaced`
}

/** Writes the export; see the module comment. */
export async function exportLabels(db: Db, opts: ExportOptions): Promise<ExportResult> {
  const out = resolve(opts.out)
  if (!['csv', 'json', 'imagefolder'].includes(opts.format)) throw new Error(`unknown export format '${opts.format}' (csv, json or imagefolder)`)
  checkExportTarget(db, out)
  const existing = lstatOrNone(out)
  if (existing) {
    if (!opts.force) throw new ExistsError(out)
    // Checked now, before the work, and again by the atomic write just before replacing.
    if (existing.isSymbolicLink()) throw new RefusedError(out, 'is a symbolic link, not replaced')
    const why =
      opts.format === 'imagefolder'
        ? existing.isDirectory()
          ? previousFolderExportProblem(out)
          : 'is a file, not replaced by a folder'
        : existing.isFile()
          ? previousFileExportProblem(out, existing)
          : existing.isDirectory()
            ? 'is a folder, not replaced by a file'
            : 'is not a regular file, not replaced'
    if (why !== null) throw new RefusedError(out, why)
  }
  const p = prepareExport(db, opts)
  const changed = p.rows.filter((r) => r.final !== null && r.final !== r.given).length
  const base = { out, format: opts.format, runId: p.runId, excluded: p.excluded, changed }
  const replaceable = (f: string, st: Stats) => previousFileExportProblem(f, st)
  if (opts.format === 'csv') {
    writeFileAtomic(out, csvText(p.records), { force: opts.force, replaceable })
    return { ...base, written: p.records.length, skipped: [], unreadable: [] }
  }
  if (opts.format === 'json') {
    const doc = { provenance: p.provenance, columns: EXPORT_COLUMNS, samples: p.records }
    writeFileAtomic(out, JSON.stringify(doc, null, 1) + '\n', { force: opts.force, replaceable })
    return { ...base, written: p.records.length, skipped: [], unreadable: [] }
  }
  return exportImageFolder(p, out, opts, base)
}

async function exportImageFolder(
  p: Prepared,
  out: string,
  opts: ExportOptions,
  base: Omit<ExportResult, 'written' | 'skipped' | 'unreadable'>,
): Promise<ExportResult> {
  if (p.rows.some((r) => p.sources.get(r.sampleId)!.kind === 'embeddings')) {
    throw new Error(`${out}: an ImageFolder export needs images; this project's samples are embeddings (export csv or json)`)
  }
  await mkdir(dirname(out), { recursive: true })
  const tmp = tempSibling(out)
  await mkdir(tmp)
  const skipped: ExportResult['skipped'] = []
  const unreadable: ExportResult['unreadable'] = []
  const written: ExportRecord[] = []
  const exportedAs: string[] = []
  let copies = 0
  try {
    // Folder per final label; two labels that sanitise to the same name get the class idx added.
    const dirOf = new Map<number, string>()
    const usedDirs = new Set<string>()
    const used = new Map<string, Set<string>>()
    const total = p.rows.length
    for (let i = 0; i < total; i++) {
      if (opts.signal?.aborted) throw new CancelledError('export')
      const r = p.rows[i]!
      const rec = p.records[i]!
      if (r.final === null || r.finalLabel === null) {
        skipped.push({ path: String(rec.path), reason: r.status === 'excluded' ? 'excluded' : 'no final label' })
        continue
      }
      let dir = dirOf.get(r.final)
      if (dir === undefined) {
        dir = safeDirName(r.finalLabel)
        if (usedDirs.has(dir.toLowerCase())) dir = `${dir}_${r.final}`
        usedDirs.add(dir.toLowerCase())
        dirOf.set(r.final, dir)
        used.set(dir, new Set())
        await mkdir(resolve(tmp, dir))
      }
      // Name collisions (same file name from different folders, compared case-insensitively for
      // Windows and macOS): rows come in sample-id order, the first keeps the name, later ones
      // get '-<sample id>' before the extension. Deterministic for a given project.
      const name = basename(r.path)
      const taken = used.get(dir)!
      let fileName = name
      if (taken.has(fileName.toLowerCase())) {
        const ext = extname(name)
        fileName = `${name.slice(0, name.length - ext.length)}-${r.sampleId}${ext}`
      }
      const from = p.sources.get(r.sampleId)!
      const src = sampleFile({ sourceKind: from.kind, sourceRoot: from.root, path: from.path })!
      const dst = resolve(tmp, dir, fileName)
      try {
        if (opts.link === 'hardlink') {
          try {
            await link(src, dst)
          } catch (e) {
            const code = (e as NodeJS.ErrnoException).code
            if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw e
            await copyFile(src, dst)
            copies++
          }
        } else {
          await copyFile(src, dst)
        }
      } catch (e) {
        const x = { path: String(rec.path), reason: `cannot read ${src} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` }
        skipped.push(x)
        unreadable.push(x)
        continue
      }
      taken.add(fileName.toLowerCase())
      written.push(rec)
      exportedAs.push(`${dir}/${fileName}`)
      opts.progress?.({ phase: 'export', done: i + 1, total })
    }
    // Images that could not be read (a moved or deleted folder): none at all is refused, nothing
    // written; some are listed in the provenance and the result, which the CLI and the app show.
    if (unreadable.length > 0 && written.length === 0)
      throw new Error(
        `${out}: none of the ${unreadable.length} images could be read (first: ${unreadable[0]!.reason}); nothing was written. ` +
          'Were the image folders moved or deleted since the import?',
      )
    await writeFile(resolve(tmp, 'manifest.csv'), csvText(written, { name: 'exported_as', values: exportedAs }))
    const prov = {
      ...p.provenance,
      counts: { ...(p.provenance.counts as object), samples: written.length, skipped: skipped.length, unreadable: unreadable.length },
      ...(unreadable.length ? { unreadable } : {}),
      link: opts.link ?? 'copy',
    }
    await writeFile(resolve(tmp, 'provenance.json'), JSON.stringify(prov, null, 1) + '\n')
    commitDirAtomic(tmp, out, { force: opts.force, replaceable: (dir) => previousFolderExportProblem(dir) })
  } catch (e) {
    await rm(tmp, { recursive: true, force: true })
    throw e
  }
  return { ...base, written: written.length, skipped, unreadable, ...(opts.link === 'hardlink' ? { copiedInsteadOfLinked: copies } : {}) }
}
