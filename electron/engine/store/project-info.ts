/**
 * Repository of the project overview: the read-only counts and lists that `qc info` (and the
 * app's project header) show. Every statement here only reads.
 */
import type { Db } from './db.ts'
import { effectiveStatus } from '../jobs/owner.ts'

export interface SampleCounts {
  samples: number
  train: number
  test: number
  /** Samples with a trusted (audited) label. */
  trusted: number
  /** Review decisions recorded (append-only events, undos included). */
  reviewEvents: number
}

export interface ClassCount {
  name: string
  idx: number
  /** Samples whose given label is this class. */
  n: number
}

export interface BackboneFeatureCount {
  id: number
  name: string
  kind: string
  dim: number
  /** Feature vectors stored for this backbone (one per distinct image content). */
  features: number
  /** The model tensor the features come from (null for embeddings). */
  featureTensor: string | null
  /** How it was chosen: 'penultimate', 'output' or a tensor name; null before schema v5. */
  featureLayer: string | null
}

export interface RunListing {
  id: number
  method: string
  status: string
  seed: number
  startedAt: string
  finishedAt: string | null
  metrics: Record<string, unknown> | null
}

/** Sample, split, trusted-label and review-event counts. */
export function sampleCounts(db: Db): SampleCounts {
  return db
    .prepare(
      `SELECT
         (SELECT count(*) FROM samples) AS samples,
         (SELECT count(*) FROM samples WHERE split = 'train') AS train,
         (SELECT count(*) FROM samples WHERE split = 'test') AS test,
         (SELECT count(*) FROM samples WHERE trusted_class_id IS NOT NULL) AS trusted,
         (SELECT count(*) FROM review_events) AS reviewEvents`,
    )
    .get() as SampleCounts
}

/** Every class in model (idx) order with the number of samples given that label. */
export function classCounts(db: Db): ClassCount[] {
  return db
    .prepare('SELECT c.name, c.idx, count(s.id) AS n FROM classes c LEFT JOIN samples s ON s.given_class_id = c.id GROUP BY c.id ORDER BY c.idx')
    .all() as ClassCount[]
}

/** Every backbone (feature space) by id, with how many feature vectors it has. */
export function backboneFeatureCounts(db: Db): BackboneFeatureCount[] {
  return db
    .prepare(
      'SELECT b.id, b.name, b.kind, b.dim, (SELECT count(*) FROM features f WHERE f.backbone_id = b.id) AS features, b.output_name AS featureTensor, b.feature_layer AS featureLayer FROM backbones b ORDER BY b.id',
    )
    .all() as BackboneFeatureCount[]
}

/** Every refinement run, oldest first, with its metrics parsed. */
export function listRuns(db: Db): RunListing[] {
  const rows = db
    .prepare(
      'SELECT id, method, status, seed, started_at AS startedAt, finished_at AS finishedAt, metrics, owner_pid AS ownerPid, owner_host AS ownerHost FROM runs ORDER BY id',
    )
    .all() as (Omit<RunListing, 'metrics'> & { metrics: string | null; ownerPid: number | null; ownerHost: string | null })[]
  // A run left 'running' by a process that is gone is listed as 'interrupted' (engine/jobs/owner.ts).
  return rows.map(({ ownerPid, ownerHost, ...r }) => ({
    ...r,
    status: effectiveStatus(r.status, { pid: ownerPid, host: ownerHost }),
    metrics: r.metrics ? (JSON.parse(r.metrics) as Record<string, unknown>) : null,
  }))
}
