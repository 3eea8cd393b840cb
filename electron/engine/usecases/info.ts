/**
 * Use case: what a project holds. Behind `qc info` and `qc backbones`: sample and split counts,
 * classes with their given-label counts, backbones with their feature counts, runs, and the files
 * the imports skipped (with the reason).
 */
import { BUILTIN_NAME, builtinDim } from '../backbone/builtin.ts'
import { catalogue, type CatalogueEntry } from '../backbone/catalogue.ts'
import type { Db } from '../store/db.ts'
import {
  backboneFeatureCounts,
  classCounts,
  listRuns,
  sampleCounts,
  type BackboneFeatureCount,
  type ClassCount,
  type RunListing,
} from '../store/project-info.ts'
import { listSkipped } from '../store/samples.ts'

export interface ProjectOverview {
  /** The project file, as the caller named it. */
  project: string
  samples: number
  train: number
  test: number
  trusted: number
  reviewEvents: number
  classes: ClassCount[]
  backbones: BackboneFeatureCount[]
  runs: RunListing[]
  /** Files the imports skipped, newest import first. */
  skipped: { path: string; reason: string }[]
}

/** The overview of an open project (`project` is the file it was opened from, for display). */
export function projectInfo(db: Db, project: string): ProjectOverview {
  return {
    project,
    ...sampleCounts(db),
    classes: classCounts(db),
    backbones: backboneFeatureCounts(db),
    runs: listRuns(db),
    skipped: listSkipped(db).map((s) => ({ path: s.path, reason: s.reason })),
  }
}

export interface BackboneChoices {
  /** The shipped, training-free filter bank (works offline). */
  builtin: string
  /** Its feature dimension (its output is the feature vector). */
  builtinDim: number
  /** Models that can be downloaded by id. */
  catalogue: readonly CatalogueEntry[]
  /** Backbones registered in the project (empty without one). */
  registered: BackboneFeatureCount[]
}

/** Every backbone a user can name: the built-in one, the catalogue, and those in `db` when given. */
export function backboneChoices(db?: Db): BackboneChoices {
  return { builtin: BUILTIN_NAME, builtinDim: builtinDim(), catalogue, registered: db ? backboneFeatureCounts(db) : [] }
}
