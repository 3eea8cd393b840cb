/**
 * Repository of the `features` table: feature vectors keyed by (content hash, backbone), written
 * by extraction and by the embeddings import, read back per sample for training and validation.
 */
import { vecToBlob, type Db } from './db.ts'

/** Writes feature vectors of one backbone; the statement is prepared once per writer. */
export interface FeatureWriter {
  /** Stores the vector for a content hash unless one is stored already (INSERT OR IGNORE). */
  insert(hash: string, vec: Float32Array): void
}

/**
 * A writer for `backboneId`'s features. Make one per batch or import and call `insert` inside the
 * caller's transaction: rows are not committed one by one.
 */
export function featureWriter(db: Db, backboneId: number): FeatureWriter {
  const st = db.prepare('INSERT OR IGNORE INTO features (hash, backbone_id, vec) VALUES (?, ?, ?)')
  return {
    insert(hash, vec) {
      st.run(hash, backboneId, vecToBlob(vec))
    },
  }
}

/** One sample with a stored feature vector (see `sampleFeatures`). */
export interface SampleFeatureRow {
  id: number
  /** Given label as class idx, null when none. */
  given: number | null
  /** Trusted label as class idx, null when none. */
  trusted: number | null
  /** float32 little-endian. */
  vec: Buffer
}

function sampleFeatureFilter(backboneId: number, opts: { split?: 'train' | 'test' }): { where: string; params: unknown[] } {
  const where: string[] = ['f.backbone_id = ?']
  const params: unknown[] = [backboneId]
  if (opts.split) {
    where.push('s.split = ?')
    params.push(opts.split)
  }
  return { where: where.join(' AND '), params }
}

/**
 * An upper bound on the rows `sampleFeatures` yields for the same split: the samples of that split.
 * Counting the join itself would probe the features table once per sample (as slow as reading it).
 */
export function sampleFeaturesBound(db: Db, opts: { split?: 'train' | 'test' } = {}): number {
  const sql = `SELECT COUNT(*) AS n FROM samples${opts.split ? ' WHERE split = ?' : ''}`
  const row = db.prepare(sql).get(...(opts.split ? [opts.split] : [])) as { n: number }
  return row.n
}

/**
 * Every sample (optionally of one split) whose content hash has a feature vector for the backbone,
 * in samples.id order, with its given and trusted class idx. Iterated lazily.
 */
export function sampleFeatures(db: Db, backboneId: number, opts: { split?: 'train' | 'test' } = {}): IterableIterator<SampleFeatureRow> {
  const { where, params } = sampleFeatureFilter(backboneId, opts)
  const sql = `
    SELECT s.id AS id, gc.idx AS given, tc.idx AS trusted, f.vec AS vec
    FROM samples s
    JOIN features f ON f.hash = s.hash
    LEFT JOIN classes gc ON gc.id = s.given_class_id
    LEFT JOIN classes tc ON tc.id = s.trusted_class_id
    WHERE ${where}
    ORDER BY s.id`
  return db.prepare(sql).iterate(...params) as IterableIterator<SampleFeatureRow>
}

/**
 * The newest backbone with stored features, preferring one that covers training samples; undefined
 * when no backbone has any.
 */
export function newestBackboneWithFeatures(db: Db): number | undefined {
  const row = db
    .prepare(
      `SELECT b.id FROM backbones b
       WHERE EXISTS (SELECT 1 FROM features f WHERE f.backbone_id = b.id)
       ORDER BY EXISTS (SELECT 1 FROM samples s JOIN features f ON f.hash = s.hash AND f.backbone_id = b.id WHERE s.split = 'train') DESC, b.id DESC
       LIMIT 1`,
    )
    .get() as { id: number } | undefined
  return row?.id
}

/** An image sample, its file location, and whether its content already has features (see `imageSamplesForExtraction`). */
export interface ExtractionCandidate {
  id: number
  hash: string
  root: string
  path: string
  /** 1 when the backbone already has a feature vector for this content, else 0. */
  have: number
}

/** Every image sample in id order with its source root and whether the backbone has its features. */
export function imageSamplesForExtraction(db: Db, backboneId: number): ExtractionCandidate[] {
  return db
    .prepare(
      `SELECT s.id AS id, s.hash AS hash, src.root AS root, s.path AS path,
              EXISTS (SELECT 1 FROM features f WHERE f.hash = s.hash AND f.backbone_id = ?) AS have
       FROM samples s JOIN sources src ON src.id = s.source_id
       WHERE src.kind = 'images'
       ORDER BY s.id`,
    )
    .all(backboneId) as ExtractionCandidate[]
}
