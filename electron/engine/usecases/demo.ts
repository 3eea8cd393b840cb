/**
 * Use case: the built-in demo, end to end. The one pipeline behind `qc demo` and the app's "Open
 * the demo project" button: generate synthetic inspection images (mislabelled by a simulated
 * hasty inspector), import them with an audited fifth (trusted labels), extract features with the
 * built-in backbone, refine with 'auto', write refined.csv, and measure the given labels, the
 * teacher, the PLL student and the chosen method against the hidden truth.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { staged, type Stage } from '../jobs/progress.ts'
import { ensureBackbone } from '../backbone/backbone.ts'
import { generateDemo, writeAuditedManifest } from '../demo/synth.ts'
import { exportLabels } from '../export/export.ts'
import { extractFeatures } from '../extract/extract.ts'
import { importCsv } from '../import/csv-manifest.ts'
import { listClasses, openDb, setMeta } from '../store/db.ts'
import { runLabels } from '../store/runs.ts'
import { samplePathsByIds } from '../store/samples.ts'
import { projectTrainingSet } from '../train/project.ts'
import { refineArrays } from '../train/refine.ts'
import type { Method } from '../train/types.ts'
import { refine, type RefineOutcome, type UseCaseContext } from './refine.ts'

export interface DemoOptions {
  /** Images per class (default 100: 500 images). */
  perClass?: number
  seed?: number
  /** Share of labels the simulated inspector gets wrong (default 0.25). */
  noiseRate?: number
  /** Also fit the teacher and the PLL student at their selected lambdas, to compare (default true). */
  compare?: boolean
  /** Write refined.csv beside the project (default true). */
  exportCsv?: boolean
}

export interface DemoSummary {
  project: string
  refinedCsv: string | null
  dataDir: string
  samples: number
  classes: string[]
  /** Images whose label the tool had to decide: the training split without an audited (trusted) label. */
  decided: number
  /** Accuracy against the hidden truth over those images (the audited fifth is trained on and clamped, so it is not counted). */
  givenLabelAccuracy: number
  teacherAccuracy: number | null
  pllAccuracy: number | null
  chosenMethod: Method
  chosenAccuracy: number
  flagged: number
  runId: number
  refine: RefineOutcome
  seconds: number
}

function readTruth(file: string): Map<string, string> {
  const truth = new Map<string, string>()
  for (const line of readFileSync(file, 'utf8').split(/\r?\n/).slice(1)) {
    if (!line) continue
    const i = line.lastIndexOf(',')
    truth.set(line.slice(0, i), line.slice(i + 1))
  }
  return truth
}

/**
 * The demo's stages, weighted by the seconds each took on a 2-core machine (500 images): drawing
 * 3, import 1.5, features 3, preparing the training set 2.6, the held-out choice 4.7, the final fit
 * 0.3, the comparison fits 0.5, refined.csv 0.2. The job's bar and its ETA follow these weights.
 */
export const DEMO_STAGES: readonly Stage[] = [
  { key: 'generate', phases: ['demo'], weight: 3 },
  { key: 'import', phases: ['import'], weight: 1.5 },
  { key: 'extract', phases: ['extract'], weight: 3 },
  { key: 'prepare', phases: ['prepare'], weight: 2.6 },
  { key: 'choose', phases: ['select'], weight: 4.7 },
  { key: 'train', phases: ['teacher', 'pll', 'sd', 'cl', 'lbfgs', 'sgd', 'cross-fit'], weight: 0.3 },
  { key: 'compare', phases: ['compare'], weight: 0.5 },
  { key: 'export', phases: ['export'], weight: 0.2 },
]

/**
 * Runs the demo into `outDir` (`data/`, `project.qcdb`, `refined.csv`). Refuses a folder that
 * already holds a project: a demo never overwrites earlier work.
 */
export async function runDemo(outDir: string, opts: DemoOptions = {}, ctx: UseCaseContext = {}): Promise<DemoSummary> {
  const t0 = Date.now()
  const projectFile = join(outDir, 'project.qcdb')
  if (existsSync(projectFile)) throw new Error(`${projectFile} already exists: choose another folder for the demo`)
  const { signal } = ctx
  const progress = ctx.progress ? staged(ctx.progress, DEMO_STAGES) : undefined
  const demo = await generateDemo(join(outDir, 'data'), {
    ...(opts.perClass !== undefined ? { perClass: opts.perClass } : {}),
    ...(opts.noiseRate !== undefined ? { noiseRate: opts.noiseRate } : {}),
    seed: opts.seed ?? 0,
    progress,
    signal,
  })
  // Every fifth image carries its true class as trusted_label (an audited subset): refinement
  // never trains on it, and the run and the Validate screen measure against it.
  const manifest = writeAuditedManifest(demo)
  const db = openDb(projectFile, { create: true })
  try {
    setMeta(db, 'demo', 'true')
    setMeta(db, 'demo_truth_csv', demo.truthCsv)
    await importCsv(db, manifest, { imagesRoot: demo.imagesRoot, progress, signal })
    const backbone = await ensureBackbone(db, 'builtin')
    await extractFeatures(db, { backbone: backbone.id, progress, signal })
    progress?.({ phase: 'prepare', done: 0, total: 1 })
    const ts = projectTrainingSet(db, backbone.id)
    const outcome = await refine(
      db,
      { method: 'auto', backboneId: backbone.id, seed: opts.seed ?? 0, trainingSet: ts },
      { ...(signal ? { signal } : {}), ...(progress ? { progress } : {}) },
    )

    // Accuracy against the hidden truth over the images the tool decided (no audited label).
    const classes = listClasses(db)
    const truth = readTruth(demo.truthCsv)
    const ids = [...ts.sampleIds].filter((_, r) => ts.trusted[r]! < 0)
    const paths = samplePathsByIds(db, ids)
    const truthAccuracy = (labels: Map<number, number>): number => {
      let ok = 0
      let n = 0
      for (const id of ids) {
        const t = truth.get(paths.get(id) ?? '')
        const l = labels.get(id)
        if (t === undefined || l === undefined) continue
        n++
        if (classes[l]?.name === t) ok++
      }
      return n ? ok / n : NaN
    }
    const given = new Map<number, number>()
    ts.sampleIds.forEach((id, r) => given.set(id, ts.given[r]!))

    // The teacher and the PLL student at the lambdas selection found for them (fixed-lambda fits:
    // no second selection), trained on the same rows as the run.
    const compareAt = async (method: 'teacher' | 'pll', candidate: string): Promise<number | null> => {
      const cand = outcome.selection?.candidates.find((c) => c.candidate === candidate)
      if (!cand) return null
      const r = await refineArrays(ts.x, ts.y, ts.k, { method, lambda: cand.lambda, pllLoss: 'gce', signal })
      const labels = new Map<number, number>()
      ts.sampleIds.forEach((id, i) => labels.set(id, r.refined[i]!))
      return truthAccuracy(labels)
    }
    const compare = opts.compare ?? true
    if (compare) progress?.({ phase: 'compare', done: 0, total: 2 })
    const teacherAccuracy = compare ? await compareAt('teacher', 'teacher') : null
    if (compare) progress?.({ phase: 'compare', done: 1, total: 2 })
    const pllAccuracy = compare ? await compareAt('pll', 'pll-gce') : null
    if (compare) progress?.({ phase: 'compare', done: 2, total: 2 })

    let refinedCsv: string | null = null
    if (opts.exportCsv ?? true) {
      refinedCsv = join(outDir, 'refined.csv')
      await exportLabels(db, { format: 'csv', out: refinedCsv, runId: outcome.runId, signal, ...(progress ? { progress } : {}) })
    }
    const summary: DemoSummary = {
      project: projectFile,
      refinedCsv,
      dataDir: demo.imagesRoot,
      samples: demo.n,
      decided: ids.length,
      classes: demo.classes,
      givenLabelAccuracy: truthAccuracy(given),
      teacherAccuracy,
      pllAccuracy,
      chosenMethod: outcome.method,
      chosenAccuracy: truthAccuracy(runLabels(db, outcome.runId)),
      flagged: outcome.flagged,
      runId: outcome.runId,
      refine: outcome,
      seconds: (Date.now() - t0) / 1000,
    }
    setMeta(
      db,
      'demo_summary',
      JSON.stringify({
        givenLabelAccuracy: summary.givenLabelAccuracy,
        teacherAccuracy,
        pllAccuracy,
        chosenMethod: summary.chosenMethod,
        chosenAccuracy: summary.chosenAccuracy,
        runId: summary.runId,
      }),
    )
    return summary
  } finally {
    db.close()
  }
}
