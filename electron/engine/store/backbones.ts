/**
 * Repository of the `backbones` table (the feature spaces: image models and imported embeddings).
 * Rows come back as stored (JSON columns as text); backbone/backbone.ts parses them into its
 * `BackboneRow`. Existence and dimension checks used by runs live in runs.ts (`backboneExists`,
 * `backboneDim`).
 */
import { now, type Db } from './db.ts'

/** A `backbones` row with its columns as stored. */
export interface StoredBackbone {
  id: number
  name: string
  kind: 'builtin' | 'catalogue' | 'file' | 'embeddings' | 'remote'
  model_path: string | null
  model_sha256: string | null
  input_name: string | null
  /** JSON array. */
  input_shape: string | null
  output_name: string | null
  dim: number
  /** JSON (see backbone/preprocess.ts). */
  preprocess: string | null
  created_at: string
  /** v5: how output_name was chosen ('penultimate', 'output', or the tensor name the user gave); null before v5. */
  feature_layer: string | null
  /** v5: 'none' | 'gap' | 'cls'; null before v5 (pooled by the output's rank). */
  feature_pool: string | null
}

/** Every backbone, by id. */
export function allBackbones(db: Db): StoredBackbone[] {
  return db.prepare('SELECT * FROM backbones ORDER BY id').all() as StoredBackbone[]
}

/** One backbone by id, or undefined. */
export function backboneById(db: Db, id: number): StoredBackbone | undefined {
  return db.prepare('SELECT * FROM backbones WHERE id = ?').get(id) as StoredBackbone | undefined
}

/** One backbone by its (unique) name, or undefined. */
export function backboneByName(db: Db, name: string): StoredBackbone | undefined {
  return db.prepare('SELECT * FROM backbones WHERE name = ?').get(name) as StoredBackbone | undefined
}

/** The embeddings backbone recorded for this .npy file, or undefined. */
export function embeddingsBackboneByFile(db: Db, npyAbs: string): StoredBackbone | undefined {
  return db.prepare("SELECT * FROM backbones WHERE kind = 'embeddings' AND model_path = ?").get(npyAbs) as StoredBackbone | undefined
}

/** The newest embeddings backbone of dimension `dim`, or undefined. */
export function newestEmbeddingsBackboneOfDim(db: Db, dim: number): StoredBackbone | undefined {
  return db.prepare("SELECT * FROM backbones WHERE kind = 'embeddings' AND dim = ? ORDER BY id DESC LIMIT 1").get(dim) as StoredBackbone | undefined
}

/** `base`, or `base#2`, `base#3`, ... : the first name no backbone has yet. */
export function unusedBackboneName(db: Db, base: string): string {
  const taken = db.prepare('SELECT 1 FROM backbones WHERE name = ?')
  let unique = base
  for (let i = 2; taken.get(unique); i++) unique = `${base}#${i}`
  return unique
}

/**
 * Records an image model (an ONNX file that was inspected, or a remote model: `modelPath` its URL,
 * `sha256` that of its metadata); returns its id.
 */
export function insertModelBackbone(
  db: Db,
  b: {
    name: string
    kind: 'builtin' | 'catalogue' | 'file' | 'remote'
    modelPath: string
    sha256: string
    inputName: string
    inputShape: (number | string)[]
    outputName: string
    dim: number
    preprocess: unknown
    /** How outputName was chosen (see StoredBackbone.feature_layer); default null. */
    featureLayer?: string | null
    featurePool?: 'none' | 'gap' | 'cls' | null
  },
): number {
  return Number(
    db
      .prepare(
        `INSERT INTO backbones (name, kind, model_path, model_sha256, input_name, input_shape, output_name, dim, preprocess, created_at, feature_layer, feature_pool)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        b.name,
        b.kind,
        b.modelPath,
        b.sha256,
        b.inputName,
        JSON.stringify(b.inputShape),
        b.outputName,
        b.dim,
        JSON.stringify(b.preprocess),
        now(),
        b.featureLayer ?? null,
        b.featurePool ?? null,
      ).lastInsertRowid,
  )
}

/** Records an embeddings space for a .npy file; returns its id. */
export function insertEmbeddingsBackbone(db: Db, b: { name: string; npyPath: string; dim: number }): number {
  return Number(
    db
      .prepare("INSERT INTO backbones (name, kind, model_path, dim, created_at) VALUES (?, 'embeddings', ?, ?, ?)")
      .run(b.name, b.npyPath, b.dim, now()).lastInsertRowid,
  )
}
