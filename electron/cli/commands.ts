/**
 * The `qc` commands. Each takes the parsed options and returns a JSON-able result (printed with
 * --json); human-readable lines go through ctx.log.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Progress } from '../engine/jobs/progress.ts'
import { openDb, listClasses, setMeta, type Db } from '../engine/store/db.ts'
import { defaultBackbone, loadFeatureMatrix } from '../engine/extract/features.ts'
import type { Method, PllLoss, RefineOptions, Solver, EngineName } from '../engine/train/types.ts'
import { ensureDir, listOpt, numberOpt, projectPath, requireOpt, UsageError } from './qc.ts'

export interface CommandContext {
  opts: Record<string, string | boolean | undefined>
  json: boolean
  progress: Progress
  signal: AbortSignal
  log: (line: string) => void
}

export type Command = (ctx: CommandContext) => Promise<unknown>

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`

// Engine modules are imported lazily so that `qc --help` and `qc info` start fast (onnxruntime
// and sharp load native code).
const engine = {
  importImageFolder: async () => (await import('../engine/import/image-folder.ts')).importImageFolder,
  importCsv: async () => (await import('../engine/import/csv-manifest.ts')).importCsv,
  importEmbeddings: async () => (await import('../engine/import/embeddings.ts')).importEmbeddings,
  backbone: async () => await import('../engine/backbone/backbone.ts'),
  extract: async () => (await import('../engine/extract/extract.ts')).extractFeatures,
  refineProject: async () => (await import('../engine/train/project.ts')).refineProject,
  exportLabels: async () => (await import('../engine/export/export.ts')).exportLabels,
  validate: async () => await import('../engine/validate/validate.ts'),
  report: async () => await import('../engine/validate/report.ts'),
}

function refineOptions(ctx: CommandContext, method: Method): RefineOptions {
  const lambdaOpt = ctx.opts.lambda
  let lambda: number | 'auto' | undefined
  if (lambdaOpt === undefined || lambdaOpt === 'auto') lambda = 'auto'
  else {
    lambda = Number(lambdaOpt)
    if (!Number.isFinite(lambda) || lambda < 0) throw new UsageError(`--lambda must be 'auto' or a number >= 0, got '${String(lambdaOpt)}'`)
  }
  const loss = ctx.opts.loss as string | undefined
  if (loss !== undefined && !['auto', 'gce', 'ce'].includes(loss)) throw new UsageError(`--loss must be auto, gce or ce`)
  const solver = ctx.opts.solver as string | undefined
  if (solver !== undefined && !['lbfgs', 'sgd'].includes(solver)) throw new UsageError(`--solver must be lbfgs or sgd`)
  const eng = ctx.opts.engine as string | undefined
  if (eng !== undefined && !['ort', 'tfjs'].includes(eng)) throw new UsageError(`--engine must be ort or tfjs`)
  const rounds = numberOpt(ctx, 'rounds')
  if (rounds !== undefined && (!Number.isInteger(rounds) || rounds < 1 || rounds > 10)) throw new UsageError('--rounds must be an integer 1..10')
  return {
    method,
    rounds,
    pllLoss: (loss as PllLoss | 'auto' | undefined) ?? 'auto',
    lambda,
    solver: solver as Solver | undefined,
    engine: eng as EngineName | undefined,
    executionProvider: ctx.opts.ep as string | undefined,
    bias: ctx.opts.bias === true ? true : undefined,
    standardize: ctx.opts.standardize === true ? true : undefined,
    seed: numberOpt(ctx, 'seed') ?? 0,
    folds: numberOpt(ctx, 'folds'),
    crossFit: ctx.opts['cross-fit'] === true ? true : undefined,
    signal: ctx.signal,
    progress: ctx.progress,
  }
}

function parseMethod(v: unknown, fallback: Method | 'auto'): Method | 'auto' {
  const m = (v as string | undefined) ?? fallback
  if (!['teacher', 'sd', 'pll', 'cl', 'auto'].includes(m)) throw new UsageError(`--method must be teacher, sd, pll, cl or auto, got '${m}'`)
  return m as Method | 'auto'
}

/** Import whatever the options name into an open project. */
async function doImport(ctx: CommandContext, db: Db): Promise<Record<string, unknown>> {
  const split = ctx.opts.split as 'train' | 'test' | undefined
  if (split !== undefined && split !== 'train' && split !== 'test') throw new UsageError('--split must be train or test')
  const common = { split, progress: ctx.progress, signal: ctx.signal }
  let summary: { added: number; existing: number; skipped: { path: string; reason: string }[]; notes?: string[] }
  if (typeof ctx.opts.features === 'string') {
    const labels = requireOpt(ctx, 'labels')
    const backbone = typeof ctx.opts.backbone === 'string' ? ctx.opts.backbone : undefined
    summary = await (await engine.importEmbeddings())(db, resolve(ctx.opts.features), resolve(labels), { ...common, backbone })
  } else if (typeof ctx.opts.csv === 'string' || (typeof ctx.opts.labels === 'string' && typeof ctx.opts.images === 'string')) {
    const csv = (ctx.opts.csv ?? ctx.opts.labels) as string
    const images = typeof ctx.opts.images === 'string' ? resolve(ctx.opts.images) : undefined
    summary = await (await engine.importCsv())(db, resolve(csv), { ...common, imagesRoot: images })
  } else if (typeof ctx.opts.images === 'string') {
    summary = await (await engine.importImageFolder())(db, resolve(ctx.opts.images), common)
  } else {
    throw new UsageError('name what to import: --images DIR, --csv FILE [--images DIR], or --features NPY --labels CSV')
  }
  ctx.log(`imported: ${summary.added} new, ${summary.existing} already in the project, ${summary.skipped.length} skipped`)
  for (const note of summary.notes ?? []) ctx.log(`  note: ${note}`)
  if (summary.added + summary.existing === 0 && summary.skipped.length > 0) {
    const first = summary.skipped[0]!
    throw new Error(`nothing could be imported: all ${summary.skipped.length} entries were skipped (first: ${first.path}: ${first.reason})`)
  }
  const reasons = new Map<string, number>()
  for (const s of summary.skipped) reasons.set(s.reason, (reasons.get(s.reason) ?? 0) + 1)
  for (const s of summary.skipped.slice(0, 10)) ctx.log(`  skipped ${s.path}: ${s.reason}`)
  if (summary.skipped.length > 10) ctx.log(`  ... and ${summary.skipped.length - 10} more (qc info lists them)`)
  return { ...summary }
}

/** Which backbone the features come from: the embeddings import, the named one, or the built-in. */
async function doExtract(ctx: CommandContext, db: Db): Promise<{ backboneId: number; summary: unknown }> {
  const named = typeof ctx.opts.backbone === 'string' ? ctx.opts.backbone : undefined
  const emb = (
    named === undefined
      ? db.prepare("SELECT id FROM backbones WHERE kind = 'embeddings' ORDER BY id DESC LIMIT 1").get()
      : db.prepare("SELECT id FROM backbones WHERE kind = 'embeddings' AND name = ?").get(named)
  ) as { id: number } | undefined
  if (emb) return { backboneId: emb.id, summary: { computed: 0, reused: 0, note: 'own embeddings: nothing to extract' } }
  const bb = await engine.backbone()
  const row = await bb.ensureBackbone(db, (ctx.opts.backbone as string | undefined) ?? 'builtin')
  const batchSize = numberOpt(ctx, 'batch')
  const summary = await (
    await engine.extract()
  )(db, {
    backbone: row.id,
    batchSize,
    executionProvider: ctx.opts.ep as string | undefined,
    progress: ctx.progress,
    signal: ctx.signal,
  })
  ctx.log(
    `features (${row.name}): ${summary.computed} computed, ${summary.reused} already stored, ${summary.failed.length} failed, ${summary.seconds.toFixed(1)} s`,
  )
  for (const f of summary.failed.slice(0, 10)) ctx.log(`  failed ${f.path}: ${f.reason}`)
  return { backboneId: row.id, summary }
}

async function doRefine(ctx: CommandContext, db: Db, backboneId: number | undefined, fallback: Method | 'auto' = 'pll') {
  let method = parseMethod(ctx.opts.method, fallback)
  const refineProject = await engine.refineProject()
  const opts = refineOptions(ctx, method === 'auto' ? 'pll' : method)
  let recommendation: unknown
  if (method === 'auto') {
    // PLL does not win on every feature set: pick the method (and its lambda, loss, rounds) by
    // k-fold validation on held-out given labels, and say which won.
    const { recommendMethod } = await import('../engine/train/refine.ts')
    const id = backboneId ?? defaultBackbone(db)
    const m = loadFeatureMatrix(db, id, { split: 'train' })
    const keep = [...m.given].map((g, i) => (g >= 0 && m.trusted[i]! < 0 ? i : -1)).filter((i) => i >= 0)
    const x = (await import('../engine/train/engine.ts')).selectRows(m.x, keep)
    const y = Int32Array.from(keep.map((i) => m.given[i]!))
    const rec = await recommendMethod(x, y, listClasses(db).length, opts)
    method = rec.method
    Object.assign(opts, opts.lambda === 'auto' ? { method: rec.method, lambda: rec.lambda, lambdaSource: 'recommendMethod' } : { method: rec.method })
    if (rec.rounds !== undefined) opts.rounds = rec.rounds
    if (rec.pllLoss !== undefined && opts.pllLoss === 'auto') opts.pllLoss = rec.pllLoss
    const scores = Object.entries(rec.best)
      .map(([c, b]) => `${c} ${(100 * b.score).toFixed(1)}%`)
      .join(', ')
    ctx.log(
      `method chosen by held-out agreement with the given labels: ${rec.method}${rec.rounds ? ` (${rec.rounds} rounds)` : ''}${rec.pllLoss ? ` (${rec.pllLoss})` : ''}; ${scores}`,
    )
    recommendation = { method: rec.method, rounds: rec.rounds, pllLoss: rec.pllLoss, lambda: rec.lambda, best: rec.best }
  }
  const { runId, result } = await refineProject(db, { ...opts, backboneId })
  const flagged = result.flagged.reduce((a, b) => a + b, 0)
  const chosen = Object.entries(result.chosen)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ')
  ctx.log(
    `run ${runId} (${method}${chosen ? ', ' + chosen : ''}): ${flagged} of ${result.n} training samples flagged, ${((result.timings.total ?? 0) / 1000).toFixed(1)} s`,
  )
  const dim = (db.prepare('SELECT dim FROM backbones WHERE id = ?').get(backboneId ?? defaultBackbone(db)) as { dim: number } | undefined)?.dim ?? 0
  const warnings: string[] = []
  if (method !== 'cl' && result.n <= dim && result.chosen.crossFit !== true) {
    // With n <= d the regularised optimum can interpolate the given labels, so the in-sample
    // predictions that SD/PLL refine are the labels themselves (little or nothing is flagged).
    warnings.push(
      `only ${result.n} training samples for ${dim} feature dimensions: the classifier can memorise the given labels, so few are flagged; more images, a smaller backbone, or --cross-fit (out-of-fold labels) help`,
    )
  }
  for (const w of warnings) ctx.log(`  warning: ${w}`)
  return { runId, method, recommendation, flagged, n: result.n, chosen: result.chosen, timings: result.timings, warnings, result }
}

async function doExport(ctx: CommandContext, db: Db, out: string, format: string, force: boolean) {
  if (!['csv', 'json', 'imagefolder'].includes(format)) throw new UsageError('--format must be csv, json or imagefolder')
  const runOpt = numberOpt(ctx, 'run')
  const res = await (
    await engine.exportLabels()
  )(db, {
    format: format as 'csv' | 'json' | 'imagefolder',
    out,
    runId: runOpt,
    onlyReviewed: ctx.opts['only-reviewed'] === true,
    autoAccept: ctx.opts['auto-accept'] === true,
    link: ctx.opts.hardlink ? 'hardlink' : 'copy',
    force,
  })
  ctx.log(`exported ${format} to ${out}`)
  return res
}

/** Accuracy of labels against the hidden truth of the demo (truth CSV: path,label). */
function truthAccuracy(db: Db, truthCsv: string, labels: Map<number, number>): number {
  const truth = new Map<string, string>()
  for (const line of readFileSync(truthCsv, 'utf8').split(/\r?\n/).slice(1)) {
    if (!line) continue
    const i = line.lastIndexOf(',')
    truth.set(line.slice(0, i), line.slice(i + 1))
  }
  const classes = listClasses(db)
  const rows = db.prepare("SELECT id, path FROM samples WHERE split = 'train'").all() as { id: number; path: string }[]
  let ok = 0
  let n = 0
  for (const r of rows) {
    const t = truth.get(r.path)
    const l = labels.get(r.id)
    if (t === undefined || l === undefined) continue
    n++
    if (classes.find((c) => c.idx === l)?.name === t) ok++
  }
  return n ? ok / n : NaN
}

function runLabels(db: Db, runId: number): Map<number, number> {
  const rows = db.prepare('SELECT sample_id, refined_idx FROM predictions WHERE run_id = ?').all(runId) as {
    sample_id: number
    refined_idx: number
  }[]
  return new Map(rows.map((r) => [r.sample_id, r.refined_idx]))
}

function givenLabels(db: Db): Map<number, number> {
  const rows = db.prepare('SELECT s.id, c.idx FROM samples s JOIN classes c ON c.id = s.given_class_id').all() as { id: number; idx: number }[]
  return new Map(rows.map((r) => [r.id, r.idx]))
}

export const commands: Record<string, Command> = {
  async demo(ctx) {
    // Without --out: ./qc-demo, or a fresh timestamped folder when an earlier demo is there (its
    // project may hold review work). An explicit --out that already holds a project is refused.
    let outOpt = ctx.opts.out as string | undefined
    if (outOpt === undefined) {
      outOpt = 'qc-demo'
      if (existsSync(join(outOpt, 'project.qcdb'))) outOpt = `qc-demo-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}`
    }
    const out = ensureDir(outOpt)
    const perClass = numberOpt(ctx, 'per-class')
    ctx.log(`generating synthetic inspection images in ${out}/data (synthetic, for trying the tool)`)
    const { generateDemo, writeAuditedManifest } = await import('../engine/demo/synth.ts')
    const demo = await generateDemo(join(out, 'data'), { perClass, seed: numberOpt(ctx, 'seed') ?? 0, progress: ctx.progress, signal: ctx.signal })
    // Every fifth image carries its true class as trusted_label (an audited subset), so that
    // `qc validate` works on the demo project; refinement never reads trusted labels.
    const manifest = writeAuditedManifest(demo)
    const projectFile = join(out, 'project.qcdb')
    if (existsSync(projectFile)) throw new Error(`${projectFile} already exists: choose another --out folder`)
    const db = openDb(projectFile)
    try {
      setMeta(db, 'demo', 'true')
      setMeta(db, 'demo_truth_csv', demo.truthCsv)
      await doImport({ ...ctx, opts: { ...ctx.opts, csv: manifest, images: demo.imagesRoot, features: undefined } }, db)
      const { backboneId } = await doExtract({ ...ctx, opts: { ...ctx.opts, backbone: undefined } }, db)
      const teacher = await doRefine({ ...ctx, opts: { ...ctx.opts, method: 'teacher' } }, db, backboneId)
      const pll = await doRefine({ ...ctx, opts: { ...ctx.opts, method: 'pll' } }, db, backboneId)
      // The run the review starts from: the method that wins the held-out validation on the
      // given labels (the latest finished run is the app's default).
      const chosen = await doRefine({ ...ctx, opts: { ...ctx.opts, method: 'auto' } }, db, backboneId)
      const refinedCsv = join(out, 'refined.csv')
      await doExport({ ...ctx, opts: { ...ctx.opts, run: String(chosen.runId) } }, db, refinedCsv, 'csv', true)
      const given = truthAccuracy(db, demo.truthCsv, givenLabels(db))
      const teacherAcc = truthAccuracy(db, demo.truthCsv, runLabels(db, teacher.runId))
      const pllAcc = truthAccuracy(db, demo.truthCsv, runLabels(db, pll.runId))
      const chosenAcc = truthAccuracy(db, demo.truthCsv, runLabels(db, chosen.runId))
      const summary = {
        project: projectFile,
        refinedCsv,
        samples: demo.n,
        classes: demo.classes,
        givenLabelAccuracy: given,
        teacherAccuracy: teacherAcc,
        pllAccuracy: pllAcc,
        chosenMethod: chosen.method,
        chosenAccuracy: chosenAcc,
        flagged: chosen.flagged,
        runIds: { teacher: teacher.runId, pll: pll.runId, chosen: chosen.runId },
      }
      ctx.log('')
      ctx.log(`Demo summary (${demo.n} synthetic images, classes: ${demo.classes.join(', ')})`)
      ctx.log(`  given labels correct (vs hidden truth): ${pct(given)}`)
      ctx.log(`  teacher labels correct:                 ${pct(teacherAcc)}`)
      ctx.log(`  PLL refined labels correct:             ${pct(pllAcc)}`)
      ctx.log(`  chosen by validation (${chosen.method}):`.padEnd(42) + ` ${pct(chosenAcc)}`)
      ctx.log(`  flagged for review (${chosen.method} run ${chosen.runId}): ${chosen.flagged}`)
      ctx.log(`  project: ${projectFile}`)
      ctx.log(`  refined labels: ${refinedCsv}`)
      ctx.log(`  review them in the app: npm run serve (or qc serve), then open the project`)
      ctx.log(`  PoC validation on the audited fifth: qc validate --project ${projectFile} --out ${join(out, 'validation')}`)
      return summary
    } finally {
      db.close()
    }
  },

  async run(ctx) {
    // Check every option before the long steps start, so a typo fails in a second, not after extraction.
    refineOptions(ctx, 'pll')
    parseMethod(ctx.opts.method, 'auto')
    const out = ensureDir(requireOpt(ctx, 'out'))
    if (ctx.opts.features === undefined && ctx.opts.images === undefined) throw new UsageError('give --images DIR or --features FILE.npy')
    if (ctx.opts.features !== undefined && ctx.opts.labels === undefined) throw new UsageError('--features needs --labels CSV')
    const projectFile = join(out, 'project.qcdb')
    const db = openDb(projectFile)
    try {
      const imported = await doImport({ ...ctx, opts: { ...ctx.opts, csv: undefined } }, db)
      const { backboneId } = await doExtract(ctx, db)
      const refined = await doRefine(ctx, db, backboneId, 'auto')
      const refinedCsv = join(out, 'refined.csv')
      await doExport({ ...ctx, opts: { ...ctx.opts, run: String(refined.runId) } }, db, refinedCsv, 'csv', true)
      const { result: _r, ...rest } = refined
      return { project: projectFile, refinedCsv, imported, ...rest }
    } finally {
      db.close()
    }
  },

  async import(ctx) {
    const db = openDb(projectPath(ctx, false))
    try {
      return await doImport(ctx, db)
    } finally {
      db.close()
    }
  },

  async extract(ctx) {
    const db = openDb(projectPath(ctx))
    try {
      return await doExtract(ctx, db)
    } finally {
      db.close()
    }
  },

  async refine(ctx) {
    refineOptions(ctx, 'pll')
    parseMethod(ctx.opts.method, 'auto')
    const db = openDb(projectPath(ctx))
    try {
      const { result: _r, ...rest } = await doRefine(ctx, db, undefined, 'auto')
      return rest
    } finally {
      db.close()
    }
  },

  async export(ctx) {
    const db = openDb(projectPath(ctx))
    try {
      return await doExport(ctx, db, resolve(requireOpt(ctx, 'out')), (ctx.opts.format as string | undefined) ?? 'csv', ctx.opts.force === true)
    } finally {
      db.close()
    }
  },

  async validate(ctx) {
    const out = ensureDir(requireOpt(ctx, 'out'))
    const db = openDb(projectPath(ctx))
    try {
      const v = await engine.validate()
      const report = await engine.report()
      const rates = (listOpt(ctx, 'rates') ?? ['0.2', '0.5', '0.8']).map(Number)
      if (rates.some((r) => !(r >= 0 && r < 1))) throw new UsageError('--rates must be numbers in [0, 1)')
      const seeds = (listOpt(ctx, 'seeds') ?? ['0', '1', '2']).map(Number)
      const config = {
        noiseTypes: (listOpt(ctx, 'noise') ?? ['symmetric']) as ('none' | 'symmetric' | 'asymmetric' | 'superclass')[],
        rates,
        seeds,
        methods: (listOpt(ctx, 'methods') ?? ['teacher', 'sd', 'pll', 'cl']) as Method[],
        sdRounds: numberOpt(ctx, 'rounds') ?? 3,
        refineOptions: { lambda: refineOptions(ctx, 'pll').lambda },
      }
      const res = await v.validateProject(db, config, { progress: ctx.progress, signal: ctx.signal })
      const { writeFileSync } = await import('node:fs')
      writeFileSync(join(out, 'validation.json'), report.toJson(res.result))
      writeFileSync(join(out, 'validation.csv'), report.toCsv(res.result))
      writeFileSync(join(out, 'report.html'), report.toHtml(res.result, { title: 'Label refinement PoC' }))
      ctx.log(`validation ${res.validationId}: wrote ${join(out, 'report.html')}, validation.csv, validation.json`)
      return { validationId: res.validationId, out }
    } finally {
      db.close()
    }
  },

  async info(ctx) {
    const file = projectPath(ctx)
    const db = openDb(file)
    try {
      const count = (sql: string): number => (db.prepare(sql).get() as { n: number }).n
      const classes = db
        .prepare(`SELECT c.name, c.idx, count(s.id) AS n FROM classes c LEFT JOIN samples s ON s.given_class_id = c.id GROUP BY c.id ORDER BY c.idx`)
        .all() as { name: string; idx: number; n: number }[]
      const backbones = db
        .prepare(
          'SELECT b.id, b.name, b.kind, b.dim, (SELECT count(*) FROM features f WHERE f.backbone_id = b.id) AS features FROM backbones b ORDER BY b.id',
        )
        .all()
      const runs = db.prepare('SELECT id, method, status, seed, started_at, finished_at, metrics FROM runs ORDER BY id').all() as {
        id: number
        method: string
        status: string
        seed: number
        started_at: string
        finished_at: string | null
        metrics: string | null
      }[]
      const skipped = db.prepare('SELECT path, reason FROM skipped ORDER BY id').all() as { path: string; reason: string }[]
      const info = {
        project: file,
        samples: count('SELECT count(*) AS n FROM samples'),
        train: count("SELECT count(*) AS n FROM samples WHERE split = 'train'"),
        test: count("SELECT count(*) AS n FROM samples WHERE split = 'test'"),
        trusted: count('SELECT count(*) AS n FROM samples WHERE trusted_class_id IS NOT NULL'),
        reviewEvents: count('SELECT count(*) AS n FROM review_events'),
        classes,
        backbones,
        runs: runs.map((r) => ({ ...r, metrics: r.metrics ? (JSON.parse(r.metrics) as unknown) : null })),
        skipped,
      }
      ctx.log(`${file}`)
      ctx.log(`  samples: ${info.samples} (train ${info.train}, test ${info.test}, trusted labels ${info.trusted})`)
      ctx.log(`  classes: ${classes.map((c) => `${c.name} (${c.n})`).join(', ')}`)
      for (const b of backbones as { id: number; name: string; kind: string; dim: number; features: number }[]) {
        ctx.log(`  backbone ${b.id} ${b.name} [${b.kind}, ${b.dim}-d]: ${b.features} feature vectors`)
      }
      for (const r of runs) ctx.log(`  run ${r.id} ${r.method} ${r.status} ${r.finished_at ?? ''}`)
      ctx.log(`  review decisions: ${info.reviewEvents}`)
      if (skipped.length) ctx.log(`  skipped at import: ${skipped.length}`)
      for (const s of skipped.slice(0, 20)) ctx.log(`    ${s.path}: ${s.reason}`)
      return info
    } finally {
      db.close()
    }
  },

  async backbones(ctx) {
    const bb = await engine.backbone()
    const { catalogue } = await import('../engine/backbone/catalogue.ts')
    const registered = typeof ctx.opts.project === 'string' && existsSync(resolve(ctx.opts.project)) ? bb.listBackbones(openDb(projectPath(ctx))) : []
    ctx.log('built-in: builtin (training-free filter bank, offline)')
    for (const c of catalogue) ctx.log(`catalogue: ${c.id} — ${c.name}`)
    for (const r of registered) ctx.log(`registered: ${r.id} ${r.name} [${r.kind}]`)
    return { catalogue, registered }
  },

  async serve(ctx) {
    const { startServer } = await import('../server/server.ts')
    const host = (ctx.opts.host as string | undefined) ?? '127.0.0.1'
    const port = numberOpt(ctx, 'port') ?? 0
    const dataDir = ensureDir((ctx.opts.data as string | undefined) ?? join(process.env.HOME ?? '.', '.seed-qc'))
    const srv = await startServer({ host, port, dataDir, allowRemote: ctx.opts['allow-remote'] === true })
    console.log(`seed-qc web mode: open ${srv.url}`)
    await new Promise<void>((resolveDone) => {
      ctx.signal.addEventListener('abort', () => {
        void srv.close().then(() => resolveDone())
      })
    })
    return undefined
  },
}
