/**
 * Reads stored features back as one dense matrix for training, validation and the server.
 * Features are keyed by (content hash, backbone), so several samples with identical content share
 * one stored row; this module fans them out to one matrix row per sample, in samples.id order.
 */
import type { Db } from '../store/db.ts'
import { sampleFeaturesBound, newestBackboneWithFeatures, sampleFeatures } from '../store/features.ts'
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
  // Sized first (by the samples, an upper bound) so the blobs are copied straight into the matrix
  // as they are read: collecting the rows and copying after held every vector twice (about 4 GB
  // for 1M x 512, bench/scale.ts).
  const cap = Math.min(sampleFeaturesBound(db, { split: sel.split }), idFilter ? idFilter.size : Infinity)
  let data = new Float32Array(cap * d)
  let sampleIds = new Int32Array(cap)
  let given = new Int32Array(cap)
  let trusted = new Int32Array(cap)
  const bytes = new Uint8Array(data.buffer)
  let n = 0
  for (const r of sampleFeatures(db, backboneId, { split: sel.split })) {
    if (idFilter && !idFilter.has(r.id)) continue
    if (n === cap) throw new Error('the features changed while they were being read; try again')
    if (r.vec.byteLength !== d * 4) {
      throw new Error(`feature of sample ${r.id} has ${r.vec.byteLength / 4} values, backbone ${backboneId} has dim ${d}`)
    }
    bytes.set(r.vec, n * d * 4)
    sampleIds[n] = r.id
    given[n] = r.given ?? -1
    trusted[n] = r.trusted ?? -1
    n++
  }
  if (n < cap) {
    // Some samples have no features (not extracted, or not asked for): one copy to the exact size.
    data = data.slice(0, n * d)
    sampleIds = sampleIds.slice(0, n)
    given = given.slice(0, n)
    trusted = trusted.slice(0, n)
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
