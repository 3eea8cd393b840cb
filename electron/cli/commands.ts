/**
 * The `qc` commands. Each takes the parsed options and returns a JSON-able result (printed with
 * --json); human-readable lines go through ctx.log.
 */
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Progress } from '../engine/jobs/progress.ts'
import { openDb, type Db } from '../engine/store/db.ts'
import type { Method, PllLoss, RefineMethod, RefineOptions, Solver, EngineName } from '../engine/train/types.ts'
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

function refineOptions(ctx: CommandContext, method: RefineMethod): RefineOptions {
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

function parseMethod(v: unknown, fallback: RefineMethod): RefineMethod {
  const m = (v as string | undefined) ?? fallback
  if (!['teacher', 'sd', 'pll', 'cl', 'auto'].includes(m)) throw new UsageError(`--method must be auto, teacher, sd, pll or cl, got '${m}'`)
  return m as RefineMethod
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

async function doRefine(ctx: CommandContext, db: Db, backboneId: number | undefined, fallback: RefineMethod = 'auto') {
  const method = parseMethod(ctx.opts.method, fallback)
  const { refine } = await import('../engine/usecases/refine.ts')
  const { signal: _s, progress: _p, ...opts } = refineOptions(ctx, method)
  const out = await refine(db, { ...opts, ...(backboneId !== undefined ? { backboneId } : {}) }, { progress: ctx.progress, signal: ctx.signal })
  const sel = out.selection
  if (sel) {
    ctx.log(`held-out validation on the given labels (${sel.rows} samples, ${sel.folds} folds, ${sel.seconds.toFixed(1)} s):`)
    for (const c of sel.candidates) {
      const mark = c.chosen ? '→' : ' '
      ctx.log(
        `  ${mark} ${c.label.padEnd(22)} λ ${String(c.lambda).padEnd(7)} agreement ${pct(c.score)}${c.behind > 0 ? `  (${(100 * c.behind).toFixed(1)} ± ${(100 * c.pairedSe).toFixed(1)} points behind)` : ''}`,
      )
    }
    ctx.log(`    ${'always the commonest class'.padEnd(22)}           agreement ${pct(sel.majorityBaseline)}`)
    if (sel.estimatedNoise !== null) ctx.log(`    given labels: about ${pct(sel.estimatedNoise)} look wrong (confident learning estimate)`)
    ctx.log(`  why: ${sel.reason}`)
  }
  const chosen = Object.entries(out.chosen)
    .filter(([, v]) => v !== undefined && typeof v !== 'object')
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ')
  ctx.log(
    `run ${out.runId} (${out.method}${chosen ? ', ' + chosen : ''}): ${out.flagged} of ${out.n} training samples flagged, ${((out.timings.total ?? 0) / 1000).toFixed(1)} s`,
  )
  if (out.trusted)
    ctx.log(`  audit: on the ${out.trusted.samples} samples with a trusted label, ${pct(out.trusted.givenAccuracy)} of the given labels are right`)
  for (const w of out.warnings) ctx.log(`  warning: ${w}`)
  return out
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
    ctx.log(`generating synthetic inspection images in ${out}/data (synthetic, for trying the tool)`)
    const { runDemo } = await import('../engine/usecases/demo.ts')
    const perClass = numberOpt(ctx, 'per-class')
    const s = await runDemo(
      out,
      { ...(perClass !== undefined ? { perClass } : {}), seed: numberOpt(ctx, 'seed') ?? 0 },
      { progress: ctx.progress, signal: ctx.signal },
    )
    const sel = s.refine.selection
    ctx.log('')
    ctx.log(`Demo summary (${s.samples} synthetic images, classes: ${s.classes.join(', ')}; ${s.seconds.toFixed(1)} s)`)
    ctx.log(`  on the ${s.decided} images without an audited label (the audited fifth is trained on as it is):`)
    ctx.log(`  given labels correct (vs hidden truth): ${pct(s.givenLabelAccuracy)}`)
    if (s.teacherAccuracy !== null) ctx.log(`  teacher labels correct:                 ${pct(s.teacherAccuracy)}`)
    if (s.pllAccuracy !== null) ctx.log(`  PLL refined labels correct:             ${pct(s.pllAccuracy)}`)
    ctx.log(`  chosen by validation (${s.chosenMethod}):`.padEnd(42) + ` ${pct(s.chosenAccuracy)}`)
    if (sel) ctx.log(`  why: ${sel.reason}`)
    for (const w of s.refine.warnings) ctx.log(`  note: ${w}`)
    ctx.log(`  flagged for review (run ${s.runId}): ${s.flagged}`)
    ctx.log(`  project: ${s.project}`)
    if (s.refinedCsv) ctx.log(`  refined labels: ${s.refinedCsv}`)
    ctx.log(`  review them in the app: npm run serve (or qc serve), then open the project`)
    ctx.log(`  PoC validation on the audited fifth: qc validate --project ${s.project} --out ${join(out, 'validation')}`)
    const { refine: _r, ...rest } = s
    return { ...rest, selection: sel, warnings: s.refine.warnings, runIds: { chosen: s.runId } }
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
      return { project: projectFile, refinedCsv, imported, ...refined }
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
      return await doRefine(ctx, db, undefined, 'auto')
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
