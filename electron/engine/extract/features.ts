/**
 * Reads stored features back as one dense matrix for training, validation and the server.
 * Features are keyed by (content hash, backbone), so several samples with identical content share
 * one stored row; this module fans them out to one matrix row per sample, in samples.id order.
 */
import type { Db } from '../store/db.ts'
import { newestBackboneWithFeatures, sampleFeatures, type SampleFeatureRow } from '../store/features.ts'
import { backboneDim } from '../store/runs.ts'
import type { FeatureMatrix } from '../train/types.ts'

export interface FeatureSelection {
  /** Only samples of this split. */
  split?: 'train' | 'test'
  /** Only these samples (any order; the result is still in samples.id order). */
  sampleIds?: number[]
}

export interface LoadedFeatures {
  /** One row per sample that has a stored feature vector for the backbone, in samples.id order. */
  x: FeatureMatrix
  sampleIds: Int32Array
  /** Given label as class idx (classes.idx), -1 when the sample has none. */
  given: Int32Array
  /** Trusted label as class idx, -1 when none. */
  trusted: Int32Array
}

/**
 * Loads the feature matrix of a backbone: every selected sample whose content hash has a row in
 * `features` for `backboneId`, in samples.id order; samples without features are left out (the
 * caller compares `sampleIds` with what it asked for when that matters).
 */
export function loadFeatureMatrix(db: Db, backboneId: number, sel: FeatureSelection = {}): LoadedFeatures {
  const d = backboneDim(db, backboneId)
  if (d === null) throw new Error(`no backbone with id ${backboneId} in this project`)
  const idFilter = sel.sampleIds ? new Set(sel.sampleIds) : undefined
  // Two passes over an iterator would need the rows twice; collect them (the blobs are the bulk
  // and are copied into the matrix once).
  const rows: SampleFeatureRow[] = []
  for (const r of sampleFeatures(db, backboneId, { split: sel.split })) {
    if (idFilter && !idFilter.has(r.id)) continue
    rows.push(r)
  }
  const n = rows.length
  const data = new Float32Array(n * d)
  const sampleIds = new Int32Array(n)
  const given = new Int32Array(n)
  const trusted = new Int32Array(n)
  const bytes = new Uint8Array(data.buffer)
  for (let i = 0; i < n; i++) {
    const r = rows[i]!
    if (r.vec.byteLength !== d * 4) {
      throw new Error(`feature of sample ${r.id} has ${r.vec.byteLength / 4} values, backbone ${backboneId} has dim ${d}`)
    }
    bytes.set(r.vec, i * d * 4)
    sampleIds[i] = r.id
    given[i] = r.given ?? -1
    trusted[i] = r.trusted ?? -1
  }
  return { x: { data, n, d }, sampleIds, given, trusted }
}

/**
 * The newest backbone with stored features, preferring one that covers training samples (an
 * embeddings space imported for the test split alone is not a training space).
 */
export function defaultBackbone(db: Db): number {
  const id = newestBackboneWithFeatures(db)
  if (id === undefined) throw new Error('this project has no features yet: run feature extraction (or import embeddings) first')
  return id
}
