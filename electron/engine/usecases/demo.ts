/**
 * Use case: the built-in demo, end to end. The one pipeline behind `qc demo` and the app's "Open
 * the demo project" button: generate synthetic inspection images (mislabelled by a simulated
 * hasty inspector), import them with an audited fifth (trusted labels), extract features with the
 * built-in backbone, refine with 'auto', write refined.csv, and measure the given labels, the
 * teacher, the PLL student and the chosen method against the hidden truth.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { staged, type Stage } from '../jobs/progress.ts'
import { ensureBackbone } from '../backbone/backbone.ts'
import { generateDemo, writeAuditedManifest } from '../demo/synth.ts'
import { exportLabels } from '../export/export.ts'
import { extractFeatures } from '../extract/extract.ts'
import { importCsv } from '../import/csv-manifest.ts'
import { getMeta, listClasses, openDb, setMeta, type Db } from '../store/db.ts'
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

/** What a folder holds for `runDemo`: nothing (new or empty), an unfinished demo, a finished one, or something else. */
export type DemoFolderState = 'new' | 'unfinished' | 'finished' | 'other'

/**
 * `opts`: the settings of the demo to run; an unfinished demo made with other settings is then
 * 'other' (it cannot be finished with these).
 */
export function demoFolderState(outDir: string, opts?: DemoOptions): DemoFolderState {
  const st = statSync(outDir, { throwIfNoEntry: false })
  if (!st) return 'new'
  if (!st.isDirectory()) return 'other'
  const projectFile = join(outDir, 'project.qcdb')
  if (!existsSync(projectFile)) return readdirSync(outDir).length > 0 ? 'other' : 'new'
  const db = openDb(projectFile)
  try {
    if (getMeta(db, 'demo') !== 'true') return 'other'
    // The summary is the last thing a demo writes.
    if (getMeta(db, 'demo_summary') !== undefined) return 'finished'
    return opts && getMeta(db, 'demo_params') !== demoParams(opts) ? 'other' : 'unfinished'
  } finally {
    db.close()
  }
}

/** The settings that make a demo (recorded in its project; finishing one needs the same). */
function demoParams(opts: DemoOptions): string {
  return JSON.stringify({ perClass: opts.perClass ?? 100, seed: opts.seed ?? 0, noiseRate: opts.noiseRate ?? 0.25 })
}

/**
 * Opens the demo's project: a new one in a new or empty folder (marked as a demo, with its
 * settings, before any image is drawn), or the unfinished demo an earlier run left there (cancelled
 * or crashed) when its settings are the same. Refuses anything else: a demo never writes over work
 * it did not make, and never over a finished demo (its project may hold review work).
 */
function openDemoProject(outDir: string, params: string): Db {
  const projectFile = join(outDir, 'project.qcdb')
  const state = demoFolderState(outDir)
  if (state === 'other')
    throw new Error(
      statSync(outDir, { throwIfNoEntry: false })?.isDirectory() === false
        ? `${outDir} is a file, not a folder: choose a new or empty folder for the demo`
        : existsSync(projectFile)
          ? `${projectFile} is a project that is not a demo: choose a new or empty folder for the demo`
          : `${outDir} is not empty and holds no seed-qc demo: choose a new or empty folder (the demo writes data/, project.qcdb and refined.csv there)`,
    )
  if (state === 'finished')
    throw new Error(`${outDir} holds a finished demo: open it (qc serve --root ${outDir}) or choose another folder for a new one`)
  if (state === 'unfinished') {
    const db = openDb(projectFile)
    const was = getMeta(db, 'demo_params')
    if (was !== params) {
      db.close()
      throw new Error(`${outDir} holds an unfinished demo made with other settings (${was ?? 'not recorded'}): choose another folder`)
    }
    return db
  }
  mkdirSync(outDir, { recursive: true })
  const db = openDb(projectFile, { create: true })
  setMeta(db, 'demo', 'true')
  setMeta(db, 'demo_params', params)
  return db
}

/**
 * Runs the demo into `outDir` (`data/`, `project.qcdb`, `refined.csv`), or finishes the unfinished
 * demo there (same settings; import and extraction resume, the images are drawn again, the same).
 * Refuses a folder holding anything else (see `openDemoProject`).
 */
export async function runDemo(outDir: string, opts: DemoOptions = {}, ctx: UseCaseContext = {}): Promise<DemoSummary> {
  const t0 = Date.now()
  const projectFile = join(outDir, 'project.qcdb')
  const params = demoParams(opts)
  const db = openDemoProject(outDir, params)
  try {
    return await demoInto(db, outDir, projectFile, opts, ctx, t0)
  } finally {
    db.close()
  }
}

async function demoInto(db: Db, outDir: string, projectFile: string, opts: DemoOptions, ctx: UseCaseContext, t0: number): Promise<DemoSummary> {
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
    // The folder is this demo's own: a refined.csv an interrupted finish of it wrote is replaced
    // (force still replaces only a previous export of ours).
    await exportLabels(db, { format: 'csv', out: refinedCsv, runId: outcome.runId, force: true, signal, ...(progress ? { progress } : {}) })
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
}
