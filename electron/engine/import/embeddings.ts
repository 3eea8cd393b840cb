/**
 * Import of the user's own embeddings: an N x D .npy (float32 or float64) with a CSV of labels in
 * the same row order (columns `id,label` or `path,label`, optional `split` and `trusted_label`).
 * The features are stored as they are, under a backbone row of kind 'embeddings', keyed by the
 * sha256 of each row's float32 bytes; the samples' path is the CSV's first column.
 */
import { basename, resolve } from 'node:path'
import type { Db } from '../store/db.ts'
import {
  backboneByName,
  embeddingsBackboneByFile,
  insertEmbeddingsBackbone,
  newestEmbeddingsBackboneOfDim,
  unusedBackboneName,
  type StoredBackbone,
} from '../store/backbones.ts'
import { featureWriter } from '../store/features.ts'
import { ensureSource } from '../store/samples.ts'
import { readCsvTable, unguardCell } from '../util/csv.ts'
import { readNpy } from '../util/npy.ts'
import { sha256Bytes } from '../util/hash.ts'
import { throwIfAborted } from '../jobs/progress.ts'
import { ImportRun, type Candidate, type ImportOptions, type ImportSummary } from './common.ts'
import { parseSplit } from './csv-manifest.ts'

const compareStrings = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

export interface EmbeddingsImportSummary extends ImportSummary {
  backboneId: number
  dim: number
}

/**
 * Finds or registers the 'embeddings' backbone (the feature space) for a .npy file.
 * - `name` given: that backbone (created if new; an existing one must be embeddings of dim D).
 * - the same file imported before: its backbone.
 * - else the newest embeddings backbone of the same dim D, so that a train .npy and a test .npy
 *   from one model land in one feature space (training and validation need both);
 * - else a new one named `embeddings:<file name>`.
 * Returns the id and, when an existing space was reused for a new file, a note saying so.
 */
function ensureEmbeddingsBackbone(db: Db, npyAbs: string, dim: number, name?: string): { id: number; note?: string } {
  const check = (row: StoredBackbone): { id: number } => {
    if (row.kind !== 'embeddings')
      throw new Error(`backbone '${row.name}' is an image model, not an embeddings space: choose another name for ${npyAbs}`)
    if (row.dim !== dim)
      throw new Error(`${npyAbs}: has ${dim} columns but backbone '${row.name}' has ${row.dim}; use another --backbone name or a new project`)
    return { id: row.id }
  }
  if (name) {
    const byName = backboneByName(db, name)
    if (byName) return check(byName)
  } else {
    const sameFile = embeddingsBackboneByFile(db, npyAbs)
    if (sameFile) return check(sameFile)
    const sameDim = newestEmbeddingsBackboneOfDim(db, dim)
    if (sameDim)
      return {
        id: sameDim.id,
        note: `${basename(npyAbs)} joins the feature space '${sameDim.name}' (same ${dim} columns); pass a backbone name to keep it apart`,
      }
  }
  const unique = unusedBackboneName(db, name ?? `embeddings:${basename(npyAbs)}`)
  return { id: insertEmbeddingsBackbone(db, { name: unique, npyPath: npyAbs, dim }) }
}

export interface EmbeddingsImportOptions extends ImportOptions {
  /** Name of the feature space (backbone) these embeddings belong to; see ensureEmbeddingsBackbone. */
  backbone?: string
}

/** Imports N x D embeddings with their labels; rows with non-finite values or a repeated id are skipped. */
export async function importEmbeddings(
  db: Db,
  npyFile: string,
  labelsCsv: string,
  opts: EmbeddingsImportOptions = {},
): Promise<EmbeddingsImportSummary> {
  const npyAbs = resolve(npyFile)
  const csvAbs = resolve(labelsCsv)
  const arr = readNpy(npyAbs)
  if (arr.shape.length !== 2) throw new Error(`${npyAbs}: expected an N x D matrix, got shape (${arr.shape.join(', ')})`)
  const [n, d] = arr.shape as [number, number]
  if (d === 0) throw new Error(`${npyAbs}: zero columns`)
  const table = readCsvTable(csvAbs, { required: ['label'] })
  const idCol = table.col('id') >= 0 ? table.col('id') : table.col('path')
  if (idCol < 0) throw new Error(`${csvAbs}:1: needs an id or path column in the header row (the first line; it has ${table.header.length})`)
  if (table.rows.length !== n) {
    throw new Error(`row count mismatch: ${npyAbs} has ${n} rows, ${csvAbs} has ${table.rows.length} label rows (they must be in the same order)`)
  }
  throwIfAborted(opts.signal, 'import')
  const iLabel = table.col('label')
  const iSplit = table.col('split')
  const iTrusted = table.col('trusted_label')
  const fallback = opts.split ?? 'train'
  const sourceId = ensureSource(db, 'embeddings', npyAbs)
  const space = db.transaction(() => ensureEmbeddingsBackbone(db, npyAbs, d, opts.backbone))()
  const backboneId = space.id
  const skips: { path: string; reason: string }[] = []
  const candidates: Candidate[] = []
  const vecs: Float32Array[] = []
  const seen = new Map<string, number>()
  for (let i = 0; i < n; i++) {
    const r = table.rows[i]!
    const id = unguardCell(r.cells[idCol]!.trim())
    if (!id) {
      skips.push({ path: `${basename(csvAbs)}:${r.line}`, reason: `line ${r.line}: empty ${table.header[idCol]}` })
      continue
    }
    if (seen.has(id)) {
      skips.push({ path: id, reason: `line ${r.line}: duplicate of line ${seen.get(id)}` })
      continue
    }
    seen.set(id, r.line)
    const split = iSplit >= 0 ? parseSplit(r.cells[iSplit]!, fallback) : fallback
    if (!split) {
      skips.push({ path: id, reason: `line ${r.line}: split must be train or test, got '${r.cells[iSplit]}'` })
      continue
    }
    const v = arr.data.subarray(i * d, (i + 1) * d)
    let finite = true
    for (let j = 0; j < d; j++) {
      const t = v[j]!
      // NaN and +-Infinity fail this; it is much cheaper than a callback per value.
      if (!(t - t === 0)) {
        finite = false
        break
      }
    }
    if (!finite) {
      skips.push({ path: id, reason: `row ${i} of ${basename(npyAbs)} has NaN or infinite values` })
      continue
    }
    const given = unguardCell(r.cells[iLabel]!.trim())
    const trusted = iTrusted >= 0 ? unguardCell(r.cells[iTrusted]!.trim()) : ''
    const splitStated = iSplit >= 0 && r.cells[iSplit]!.trim() !== ''
    candidates.push({ sourceId, path: id, hash: sha256Bytes(v), split, splitStated, given: given || null, trusted: trusted || null })
    vecs.push(v)
  }
  const run = new ImportRun(db, 'embeddings', npyAbs, sourceId, { batchSize: 2000, ...opts })
  const names = new Set<string>()
  for (const c of candidates) {
    if (c.given) names.add(c.given)
    if (c.trusted) names.add(c.trusted)
  }
  run.declareClasses([...names].sort())
  // Features first, in one transaction: samples then always find theirs. In key (hash) order: in
  // file order every insert lands on a random page of the table, which the page cache cannot hold
  // past about 100k rows (4x slower at 100k x 512, bench/scale.ts).
  const features = featureWriter(db, backboneId)
  const byHash = candidates.map((_, j) => j).sort((a, b) => compareStrings(candidates[a]!.hash!, candidates[b]!.hash!))
  db.transaction(() => {
    for (const j of byHash) features.insert(candidates[j]!.hash!, vecs[j]!)
  })()
  const summary = await run.run(candidates, skips)
  return { ...summary, notes: space.note ? [...summary.notes, space.note] : summary.notes, backboneId, dim: d }
}
