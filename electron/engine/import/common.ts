/**
 * What every import shares: an `imports` row, candidate files validated a few at a time, results
 * written in one transaction per batch (a crash keeps the batches already written and the
 * `imports` row shows how far it got), `skipped` rows with reasons, progress and cancellation.
 */
import { classNameById, ensureClass, listClasses, type Db } from '../store/db.ts'
import { addImportCounts, finishImport, insertImport, skippedWriter } from '../store/imports.ts'
import { insertSample, samplesByPath, updateSampleContent, updateSampleLabels, type Split, type StoredSampleKey } from '../store/samples.ts'
import { CancelledError, type Progress } from '../jobs/progress.ts'
import { probeImage } from './images.ts'
import { readFile } from 'node:fs/promises'
import { sha256Bytes } from '../util/hash.ts'

/** What an import did. */
export interface ImportSummary {
  importId: number
  added: number
  /** Already in the project with the same content and labels. */
  existing: number
  /** Already in the project but changed: new file content at the same path, or new labels/split. */
  updated: { path: string; what: string }[]
  skipped: { path: string; reason: string }[]
  /** All class names of the project after the import, in model (idx) order. */
  classes: string[]
  /** Notes worth showing the user (e.g. paths stored outside the source root). */
  notes: string[]
}

export interface ImportOptions {
  /** Split for samples that do not name one. Default 'train'. */
  split?: Split
  /** Pixel-bomb guard, default 100 MP. */
  maxPixels?: number
  /** Files validated per transaction. Default 64. */
  batchSize?: number
  progress?: Progress
  signal?: AbortSignal
}

/** One thing to import. */
export interface Candidate {
  sourceId: number
  /** Stored path (relative to the source root, '/' separators). */
  path: string
  /** Absolute file to validate (images); absent for embeddings. */
  file?: string
  /** For embeddings: content hash computed by the caller. */
  hash?: string
  split: Split
  /**
   * Whether the source names the split (a CSV split cell, the train/test folder layout); when it
   * does not, `split` is the default for new samples and a sample already in the project keeps its
   * own. Default true.
   */
  splitStated?: boolean
  /** null: the source gives no label; a sample already in the project keeps its own (never cleared by a re-import). */
  given: string | null
  /** null: the source gives no trusted label (no column, or an empty cell); an existing one is kept. */
  trusted: string | null
}

type Outcome =
  | { kind: 'ok'; c: Candidate; hash: string; size: number; width: number | null; height: number | null }
  | { kind: 'skip'; path: string; reason: string }

/** Runs an import over a list of candidates (plus skips found while listing them). */
export class ImportRun {
  readonly importId: number
  readonly summary: ImportSummary
  private known = new Map<number, Map<string, StoredSampleKey>>()
  private classIds = new Map<string, number>()
  /** Existing samples whose split was kept although --split named another (it applies to new samples). */
  private keptSplit = 0

  constructor(
    private db: Db,
    kind: 'imagefolder' | 'csv' | 'embeddings',
    origin: string,
    sourceId: number | null,
    private opts: ImportOptions,
  ) {
    this.importId = insertImport(db, { sourceId, kind, origin })
    this.summary = { importId: this.importId, added: 0, existing: 0, updated: [], skipped: [], classes: [], notes: [] }
  }

  /** Creates classes in the given order (so idx follows it) before any sample refers to them. */
  declareClasses(names: Iterable<string>): void {
    this.db.transaction(() => {
      for (const n of names) if (n.trim()) this.classId(n)
    })()
  }

  private classId(raw: string | null): number | null {
    if (raw === null || raw.trim() === '') return null
    // One spelling per class: macOS hands out folder names in NFD, CSVs are usually NFC.
    const name = raw.normalize('NFC')
    let id = this.classIds.get(name)
    if (id === undefined) {
      id = ensureClass(this.db, name)
      this.classIds.set(name, id)
    }
    return id
  }

  /** A class's name by id, for the summary ('none' for no label). */
  private className(id: number | null): string {
    if (id === null) return 'none'
    return classNameById(this.db, id) ?? `class ${id}`
  }

  private existing(sourceId: number): Map<string, StoredSampleKey> {
    let m = this.known.get(sourceId)
    if (!m) {
      m = samplesByPath(this.db, sourceId)
      this.known.set(sourceId, m)
    }
    return m
  }

  /**
   * Validates and stores every candidate; `listingSkips` (found while walking/parsing) are
   * recorded with the first batch. Throws CancelledError after writing the batch in flight when
   * the signal fires.
   */
  async run(candidates: Candidate[], listingSkips: { path: string; reason: string }[] = []): Promise<ImportSummary> {
    const batchSize = this.opts.batchSize ?? 64
    const total = candidates.length
    const report = this.opts.progress
    let pending: Outcome[] = listingSkips.map((s) => ({ kind: 'skip', ...s }))
    report?.({ phase: 'import', done: 0, total })
    let done = 0
    for (let i = 0; i < total; i += batchSize) {
      const chunk = candidates.slice(i, i + batchSize)
      pending.push(...(await this.validate(chunk)))
      this.write(pending)
      pending = []
      done += chunk.length
      report?.({ phase: 'import', done, total })
      if (this.opts.signal?.aborted && done < total) throw new CancelledError('import')
    }
    if (pending.length) this.write(pending)
    finishImport(this.db, this.importId)
    this.summary.classes = listClasses(this.db).map((c) => c.name)
    return this.summary
  }

  /** Validates a chunk, a few files at a time (sharp decodes on libuv's thread pool). */
  private async validate(chunk: Candidate[]): Promise<Outcome[]> {
    const out: Outcome[] = new Array(chunk.length)
    let next = 0
    const worker = async () => {
      for (;;) {
        const j = next++
        if (j >= chunk.length) return
        const c = chunk[j]!
        if (c.file === undefined) {
          out[j] = { kind: 'ok', c, hash: c.hash ?? '', size: 0, width: null, height: null }
          continue
        }
        // Re-import: an unchanged file (same bytes) needs no second decode check.
        const known = this.existing(c.sourceId).get(c.path)
        if (known) {
          const buf = await readFile(c.file).catch(() => undefined)
          if (buf && buf.length > 0 && sha256Bytes(buf) === known.hash) {
            out[j] = { kind: 'ok', c, hash: known.hash, size: known.size, width: known.width, height: known.height }
            continue
          }
        }
        const p = await probeImage(c.file, { maxPixels: this.opts.maxPixels })
        if (!p.ok) out[j] = { kind: 'skip', path: c.path, reason: p.reason }
        else out[j] = { kind: 'ok', c, hash: p.hash, size: p.size, width: p.width, height: p.height }
      }
    }
    await Promise.all(Array.from({ length: Math.min(4, chunk.length) }, worker))
    return out
  }

  private write(outcomes: Outcome[]): void {
    const db = this.db
    const s = this.summary
    const insSkip = skippedWriter(db, this.importId)
    let added = 0
    let existing = 0
    let skipped = 0
    db.transaction(() => {
      for (const o of outcomes) {
        if (o.kind === 'skip') {
          insSkip.insert(o.path, o.reason)
          s.skipped.push({ path: o.path, reason: o.reason })
          skipped++
          continue
        }
        const c = o.c
        const given = this.classId(c.given)
        const trusted = this.classId(c.trusted)
        const map = this.existing(c.sourceId)
        const old = map.get(c.path)
        if (!old) {
          const row = { hash: o.hash, size: o.size, width: o.width, height: o.height, split: c.split, givenClassId: given, trustedClassId: trusted }
          const id = insertSample(db, { sourceId: c.sourceId, path: c.path, ...row })
          map.set(c.path, { id, ...row })
          added++
          continue
        }
        // What the source does not state, the sample keeps: a re-import never clears a label, a
        // trusted (audited) label or a split it has no word on.
        const split = c.splitStated === false ? old.split : c.split
        if (c.splitStated === false && c.split !== old.split) this.keptSplit++
        const newGiven = given ?? old.givenClassId
        const newTrusted = trusted ?? old.trustedClassId
        const what: string[] = []
        if (old.hash !== o.hash) {
          updateSampleContent(db, old.id, { hash: o.hash, size: o.size, width: o.width, height: o.height })
          what.push('content changed')
        }
        if (old.split !== split || old.givenClassId !== newGiven || old.trustedClassId !== newTrusted) {
          updateSampleLabels(db, old.id, { split, givenClassId: newGiven, trustedClassId: newTrusted })
          if (old.givenClassId !== newGiven) what.push(`label changed (${this.className(old.givenClassId)} -> ${this.className(newGiven)})`)
          if (old.trustedClassId !== newTrusted)
            what.push(`trusted label changed (${this.className(old.trustedClassId)} -> ${this.className(newTrusted)})`)
          if (old.split !== split) what.push(`split changed (${old.split} -> ${split})`)
        }
        map.set(c.path, {
          id: old.id,
          hash: o.hash,
          size: o.size,
          width: o.width,
          height: o.height,
          split,
          givenClassId: newGiven,
          trustedClassId: newTrusted,
        })
        if (what.length) s.updated.push({ path: c.path, what: what.join(', ') })
        else existing++
      }
      addImportCounts(db, this.importId, { added, existing, skipped })
    })()
    const note = (n: number) =>
      `${n} sample(s) already in the project kept their split: --split applies to new samples only (a split column or the train/test folder layout changes it)`
    if (this.opts.split !== undefined && this.keptSplit > 0) {
      s.notes = s.notes.filter((x) => !x.endsWith('(a split column or the train/test folder layout changes it)'))
      s.notes.push(note(this.keptSplit))
    }
    s.added += added
    s.existing += existing
  }
}
