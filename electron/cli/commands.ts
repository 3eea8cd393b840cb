/**
 * The `qc` commands: each declares its options (commander generates its help from them), turns
 * the parsed values into a use-case request, calls the use case, and prints the result. The
 * product logic lives in electron/engine/usecases/.
 */
import { existsSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { InvalidArgumentError, Option } from 'commander'
import type { ImportSource } from '../engine/usecases/import.ts'
import type { RefineRequest } from '../engine/usecases/refine.ts'
import type { Method } from '../engine/train/types.ts'
import type { ValidationNoise } from '../engine/validate/validate.ts'
import {
  defineCommand,
  ensureDir,
  extractOptions,
  integer,
  lambdaValue,
  list,
  oneOf,
  projectOption,
  rate,
  refineOptions,
  requiredOption,
  UsageError,
  withProject,
  type CommandContext,
  type CommandSpec,
  type RefineFlags,
} from './options.ts'
import {
  printAuditPlan,
  printAuditReport,
  printBackbones,
  printDecisions,
  printDemo,
  printExtract,
  printImport,
  printInfo,
  printRefine,
} from './print.ts'

// Use cases are imported when a command runs, so that `qc --help` starts fast (the engines load
// onnxruntime and sharp, which are native code).
const usecases = {
  demo: () => import('../engine/usecases/demo.ts'),
  importer: () => import('../engine/usecases/import.ts'),
  extract: () => import('../engine/usecases/extract.ts'),
  refine: () => import('../engine/usecases/refine.ts'),
  exporter: () => import('../engine/usecases/export.ts'),
  validate: () => import('../engine/usecases/validate.ts'),
  info: () => import('../engine/usecases/info.ts'),
  pipeline: () => import('../engine/usecases/pipeline.ts'),
  review: () => import('../engine/usecases/review.ts'),
  audit: () => import('../engine/usecases/audit.ts'),
}

function refineRequest(o: RefineFlags): RefineRequest {
  return {
    method: o.method,
    lambda: o.lambda,
    pllLoss: o.loss,
    seed: o.seed,
    ...(o.rounds !== undefined ? { rounds: o.rounds } : {}),
    ...(o.solver !== undefined ? { solver: o.solver } : {}),
    ...(o.engine !== undefined ? { engine: o.engine } : {}),
    ...(o.ep !== undefined ? { executionProvider: o.ep } : {}),
    ...(o.folds !== undefined ? { folds: o.folds } : {}),
    ...(o.bias ? { bias: true } : {}),
    ...(o.standardize ? { standardize: true } : {}),
    ...(o.crossFit ? { crossFit: true } : {}),
    ...(o.useReviews ? { useReviews: true } : {}),
  }
}

interface SourceFlags {
  images?: string
  csv?: string
  labels?: string
  features?: string
  backbone?: string
}

/** What the import options name: embeddings (--features + --labels), a manifest (--csv, or --labels with --images), or a folder. */
function importSource(o: SourceFlags): ImportSource {
  if (o.features !== undefined) {
    if (o.labels === undefined) throw new UsageError('--features needs --labels CSV')
    return { kind: 'embeddings', npyFile: o.features, labelsCsv: o.labels, ...(o.backbone !== undefined ? { backbone: o.backbone } : {}) }
  }
  const manifest = o.csv ?? (o.images !== undefined ? o.labels : undefined)
  if (manifest !== undefined) return { kind: 'csv', csvFile: manifest, ...(o.images !== undefined ? { imagesRoot: o.images } : {}) }
  if (o.images !== undefined) return { kind: 'folder', root: o.images }
  throw new UsageError('name what to import: --images DIR, --csv FILE [--images DIR], or --features NPY --labels CSV')
}

/** Refuses (UsageError, naming the path) a source whose folder or files are not there. */
function checkSourcePaths(source: ImportSource): void {
  const need = (path: string, folder: boolean) => {
    const st = statSync(path, { throwIfNoEntry: false })
    if (!st) throw new UsageError(`${resolve(path)}: no such ${folder ? 'folder' : 'file'}`)
    if (folder && !st.isDirectory()) throw new UsageError(`${resolve(path)}: not a folder`)
    if (!folder && !st.isFile()) throw new UsageError(`${resolve(path)}: not a file`)
  }
  if (source.kind === 'folder') need(source.root, true)
  else if (source.kind === 'csv') {
    need(source.csvFile, false)
    if (source.imagesRoot !== undefined) need(source.imagesRoot, true)
  } else {
    need(source.npyFile, false)
    need(source.labelsCsv, false)
  }
}

/** Prints the import summary of an import that took nothing before its error goes out. */
async function showingImportSummary<T>(ctx: CommandContext, body: () => Promise<T>): Promise<T> {
  try {
    return await body()
  } catch (e) {
    const { NothingImportedError } = await usecases.importer()
    if (e instanceof NothingImportedError) printImport(ctx.log, e.outcome)
    throw e
  }
}

const sourceOptions = {
  images: '--images <dir>',
  labels: '--labels <csv>',
  features: '--features <npy>',
  split: () => new Option('--split <split>', 'split for samples that do not name one').choices(['train', 'test']),
}

const demo = defineCommand<{ out?: string; perClass?: number; seed: number }>({
  name: 'demo',
  summary: 'generate synthetic inspection images and run everything on them',
  options: (cmd) =>
    cmd
      .option('-o, --out <dir>', 'folder for the demo (default ./qc-demo, or a fresh one when that holds a project)')
      .addOption(new Option('--per-class <n>', 'images per class (default 100)').argParser(integer(1)))
      .addOption(new Option('--seed <s>', 'random seed').argParser(integer(0)).default(0)),
  async run(o, ctx) {
    // Without --out: ./qc-demo (finishing the unfinished demo a cancel left there), or a fresh
    // timestamped folder when it holds anything else (a finished demo may hold review work). An
    // explicit --out is used as it is: runDemo refuses a folder holding anything but its own
    // unfinished demo.
    const { runDemo, demoFolderState } = await usecases.demo()
    const demoOpts = { ...(o.perClass !== undefined ? { perClass: o.perClass } : {}), seed: o.seed }
    let outOpt = o.out
    if (outOpt === undefined) {
      outOpt = 'qc-demo'
      if (!['new', 'unfinished'].includes(demoFolderState(resolve(outOpt), demoOpts)))
        outOpt = `qc-demo-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}`
    }
    const state = demoFolderState(resolve(outOpt), demoOpts)
    // runDemo creates the folder, or refuses one it may not write into.
    const out = resolve(outOpt)
    // A folder runDemo refuses gets its one-line refusal only.
    if (state === 'new' || state === 'unfinished')
      ctx.log(
        state === 'unfinished'
          ? `finishing the unfinished demo in ${out} (synthetic images, for trying the tool)`
          : `generating synthetic inspection images in ${out}/data (synthetic, for trying the tool)`,
      )
    const s = await runDemo(out, demoOpts, ctx)
    printDemo(ctx.log, s, join(out, 'validation'))
    const { refine: r, ...rest } = s
    return { ...rest, selection: r.selection, warnings: r.warnings, runIds: { chosen: s.runId } }
  },
})

/** Flags of a remote backbone (see extractOptions). */
interface RemoteFlags {
  backboneToken?: string
  backboneRequests?: number
}

/** The remote backbone options the flags give, if any (the token also comes from QC_BACKBONE_TOKEN). */
function remoteOptions(o: RemoteFlags): { remote?: { token?: string; concurrency?: number } } {
  if (o.backboneToken === undefined && o.backboneRequests === undefined) return {}
  return {
    remote: {
      ...(o.backboneToken !== undefined ? { token: o.backboneToken } : {}),
      ...(o.backboneRequests !== undefined ? { concurrency: o.backboneRequests } : {}),
    },
  }
}

/** The feature tensor of an image model (see extractOptions). */
interface FeatureFlags {
  featureLayer?: string
}

const run = defineCommand<SourceFlags & RefineFlags & RemoteFlags & FeatureFlags & { out: string; split?: 'train' | 'test'; batch?: number }>({
  name: 'run',
  summary: 'import, extract, refine and write OUT/project.qcdb and OUT/refined.csv in one go',
  options: (cmd) => {
    requiredOption(cmd, '-o, --out <dir>', 'output folder: project.qcdb and refined.csv (path,given_label,refined_label,confidence,flagged,...)')
      .option(sourceOptions.images, 'images: an ImageFolder tree DIR/<class>/<image>, or the root the --labels paths are relative to')
      .option(sourceOptions.labels, 'labels CSV: path,label[,split][,trusted_label] with --images; id,label with --features')
      .option(sourceOptions.features, 'your own embeddings (.npy, N x D, rows in --labels order)')
      .addOption(sourceOptions.split())
    extractOptions(cmd, false)
    refineOptions(cmd)
  },
  async run(o, ctx) {
    if (o.features === undefined && o.images === undefined) throw new UsageError('give --images DIR or --features FILE.npy')
    const source = importSource({ ...o, csv: undefined })
    const { runPipeline } = await usecases.pipeline()
    const p = await showingImportSummary(ctx, () =>
      runPipeline(
        {
          outDir: ensureDir(o.out),
          source,
          ...(o.split ? { split: o.split } : {}),
          extract: {
            // With --features, --backbone names the embeddings' feature space (import and extract agree).
            ...(o.backbone !== undefined ? { backbone: o.backbone } : {}),
            ...(o.featureLayer !== undefined ? { featureLayer: o.featureLayer } : {}),
            ...(o.batch !== undefined ? { batchSize: o.batch } : {}),
            ...(o.ep !== undefined ? { executionProvider: o.ep } : {}),
            ...remoteOptions(o),
          },
          refine: refineRequest(o),
        },
        {
          ...ctx,
          notice: (m) => ctx.log(`  note: ${m}`),
          onStep: (s) => {
            if (s.step === 'imported') printImport(ctx.log, s.outcome)
            else if (s.step === 'extracted') printExtract(ctx.log, s.outcome)
            else if (s.step === 'refined') printRefine(ctx.log, s.outcome)
            else ctx.log(`exported csv to ${s.outcome.out}`)
          },
        },
      ),
    )
    return { project: p.project, refinedCsv: p.refinedCsv, imported: p.imported, extracted: p.extracted, ...p.refined }
  },
})

const importCommand = defineCommand<SourceFlags & { project: string; split?: 'train' | 'test' }>({
  name: 'import',
  summary: 'add images (a folder or a CSV manifest) or your own embeddings to a project (created if new)',
  options: (cmd) =>
    projectOption(cmd, 'required', 'project file (.qcdb), created if it does not exist')
      .option(sourceOptions.images, 'an ImageFolder tree DIR/<class>/<image> (or DIR/train/... + DIR/test/...); with --csv, the root of its paths')
      .option('--csv <file>', 'a manifest path,label[,split][,trusted_label]')
      .option(sourceOptions.features, 'your own embeddings (.npy, float32/float64, N x D)')
      .option(sourceOptions.labels, 'labels of --features (id,label[,split][,trusted_label], same row order)')
      .option('--backbone <name>', 'name of the feature space the embeddings belong to')
      .addOption(sourceOptions.split()),
  async run(o, ctx) {
    const source = importSource(o)
    // Checked before the project file is opened: a mistyped source leaves no new empty project behind.
    checkSourcePaths(source)
    const { importIntoProject } = await usecases.importer()
    const s = await withProject(
      o.project,
      (db) => showingImportSummary(ctx, () => importIntoProject(db, { source, ...(o.split ? { split: o.split } : {}) }, ctx)),
      false,
    )
    printImport(ctx.log, s)
    return s
  },
})

const extract = defineCommand<RemoteFlags & FeatureFlags & { project: string; backbone?: string; ep?: string; batch?: number }>({
  name: 'extract',
  summary: 'compute image features with a backbone (resumable: Ctrl-C keeps what is done)',
  options: (cmd) => extractOptions(projectOption(cmd)),
  async run(o, ctx) {
    const { extractProjectFeatures } = await usecases.extract()
    const req = {
      ...(o.backbone !== undefined ? { backbone: o.backbone } : {}),
      ...(o.featureLayer !== undefined ? { featureLayer: o.featureLayer } : {}),
      ...(o.batch !== undefined ? { batchSize: o.batch } : {}),
      ...(o.ep !== undefined ? { executionProvider: o.ep } : {}),
      ...remoteOptions(o),
    }
    const e = await withProject(o.project, (db) => extractProjectFeatures(db, req, { ...ctx, notice: (m) => ctx.log(`  note: ${m}`) }))
    printExtract(ctx.log, e)
    return e
  },
})

const refine = defineCommand<RefineFlags & { project: string }>({
  name: 'refine',
  summary: 'a refinement run: refined labels and the samples flagged for review',
  options: (cmd) => refineOptions(projectOption(cmd)),
  async run(o, ctx) {
    const { refine } = await usecases.refine()
    const out = await withProject(o.project, (db) => refine(db, refineRequest(o), ctx))
    printRefine(ctx.log, out)
    return out
  },
})

const NOISE = ['none', 'symmetric', 'asymmetric', 'superclass'] as const
const SWEEP_METHODS = ['teacher', 'sd', 'pll', 'cl'] as const

/** `--review BATCH,BUDGET`: two positive integers, the batch no larger than the budget. */
function reviewPair(v: string): number[] {
  const parts = v.split(',').map((s) => s.trim())
  const [batch, budget] = parts.map(Number)
  const ok = (s: string | undefined) => s !== undefined && /^\d+$/.test(s)
  if (parts.length !== 2 || !ok(parts[0]) || !ok(parts[1]) || batch! < 1 || budget! < batch! || budget! > 1_000_000)
    throw new InvalidArgumentError(
      'expected BATCH,BUDGET: two positive integers, the batch no larger than the budget, the budget at most 1000000 (for example 25,200)',
    )
  return [batch!, budget!]
}

const validate = defineCommand<{
  project: string
  out: string
  noise?: ValidationNoise[]
  rates?: number[]
  seeds?: number[]
  methods?: Method[]
  rounds?: number
  lambda: number | 'auto'
  loss?: 'auto' | 'gce' | 'ce'
  review?: number[]
}>({
  name: 'validate',
  summary: 'PoC sweep: inject label noise, refine, measure on the trusted split; JSON, CSV and HTML report',
  options: (cmd) =>
    requiredOption(
      projectOption(cmd),
      '-o, --out <dir>',
      'folder for validation.json, validation.csv and report.html (replaces only files qc validate wrote there)',
    )
      .addOption(
        new Option('--noise <types>', `noise models, comma-separated: ${NOISE.join(', ')} (default symmetric)`).argParser(list(oneOf(NOISE))),
      )
      .addOption(new Option('--rates <list>', 'noise rates in [0, 0.95] (default 0.2,0.5,0.8)').argParser(list(rate)))
      .addOption(new Option('--seeds <list>', 'seeds (default 0,1,2)').argParser(list(integer(0))))
      .addOption(new Option('--methods <list>', `methods compared: ${SWEEP_METHODS.join(', ')} (default all)`).argParser(list(oneOf(SWEEP_METHODS))))
      .addOption(new Option('--rounds <t>', 'SD rounds reported, 1..t (default 3)').argParser(integer(1, 10)))
      .addOption(new Option('--lambda <x>', "L2 regularisation: 'auto' or a number >= 0").argParser(lambdaValue).default('auto'))
      .addOption(new Option('--loss <l>', 'PLL loss').choices(['auto', 'gce', 'ce']))
      .addOption(
        new Option(
          '--review <batch,budget>',
          'also simulate an inspector per noise draw: reviews in batches of BATCH up to BUDGET, with feedback and without (report: "How many images do we have to look at?")',
        ).argParser(reviewPair),
      ),
  async run(o, ctx) {
    const { validateWithReport } = await usecases.validate()
    const outDir = ensureDir(o.out)
    const v = await withProject(o.project, (db) =>
      validateWithReport(
        db,
        {
          outDir,
          lambda: o.lambda,
          ...(o.noise ? { noiseTypes: o.noise } : {}),
          ...(o.rates ? { rates: o.rates } : {}),
          ...(o.seeds ? { seeds: o.seeds } : {}),
          ...(o.methods ? { methods: o.methods } : {}),
          ...(o.rounds !== undefined ? { sdRounds: o.rounds } : {}),
          ...(o.loss !== undefined ? { pllLoss: o.loss } : {}),
          ...(o.review ? { review: { batch: o.review[0]!, budget: o.review[1]! } } : {}),
        },
        ctx,
      ),
    )
    ctx.log(`validation ${v.validationId}: wrote ${v.files!.html}, validation.csv, validation.json`)
    return { validationId: v.validationId, out: outDir, files: v.files, complete: v.result.complete, best: v.result.best }
  },
})

const exportCommand = defineCommand<{
  project: string
  out: string
  format: 'csv' | 'json' | 'imagefolder'
  run?: number
  hardlink?: boolean
  onlyReviewed?: boolean
  autoAccept?: boolean
  force?: boolean
}>({
  name: 'export',
  summary: 'write the final labels: CSV, JSON, or an ImageFolder tree sorted by final label',
  options: (cmd) =>
    requiredOption(projectOption(cmd), '-o, --out <path>', 'file (csv, json) or folder (imagefolder) to create')
      .addOption(new Option('--format <f>', 'what to write').choices(['csv', 'json', 'imagefolder']).default('csv'))
      .addOption(new Option('--run <id>', 'the run whose suggestions are exported (default: the latest finished run)').argParser(integer(1)))
      .option('--hardlink', 'imagefolder: hard-link the images instead of copying them')
      .option('--only-reviewed', 'only samples with a review decision')
      .option('--auto-accept', 'unreviewed flagged samples take the refined label')
      .option('--force', 'replace an earlier export at --out'),
  async run(o, ctx) {
    const { exportProject } = await usecases.exporter()
    const req = {
      format: o.format,
      out: o.out,
      ...(o.run !== undefined ? { runId: o.run } : {}),
      hardlink: o.hardlink === true,
      onlyReviewed: o.onlyReviewed === true,
      autoAccept: o.autoAccept === true,
      force: o.force === true,
    }
    const res = await withProject(o.project, (db) => exportProject(db, req, ctx))
    ctx.log(`exported ${res.format} to ${res.out}: ${res.written} samples`)
    const unreadable = res.unreadable
    if (unreadable.length > 0) {
      ctx.log(`warning: ${unreadable.length} image(s) could not be read and are not in the export (listed in its provenance.json):`)
      for (const x of unreadable.slice(0, 5)) ctx.log(`  ${x.path}: ${x.reason}`)
      if (unreadable.length > 5) ctx.log(`  ... and ${unreadable.length - 5} more`)
    }
    return res
  },
})

/** A number strictly between `min` and `max`. */
function between(min: number, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (v.trim() === '' || !(n > min && n < max)) throw new InvalidArgumentError(`expected a number between ${min} and ${max}`)
    return n
  }
}

/** Prints every bad row of an input file (file:line: problem) before the one-line failure. */
async function reportingBadRows<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body()
  } catch (e) {
    const { RowsError } = await usecases.review()
    if (e instanceof RowsError) for (const p of e.problems) console.error(`${e.file}:${p.line}: ${p.problem}`)
    throw e
  }
}

const review = defineCommand<{ project: string; decisions: string; run?: number; reviewer?: string }>({
  name: 'review',
  summary: 'apply review decisions from a CSV file (path,action,label,reviewer): all rows or, if any is bad, none',
  options: (cmd) =>
    requiredOption(projectOption(cmd), '--decisions <csv>', 'decisions: path,action,label,reviewer; action accept, keep, relabel or exclude')
      .addOption(new Option('--run <id>', 'the run whose suggestions accept takes (default: the latest finished run)').argParser(integer(1)))
      .option('--reviewer <name>', 'reviewer for rows that leave the reviewer empty'),
  async run(o, ctx) {
    const { applyDecisionsFile } = await usecases.review()
    const req = {
      file: resolve(o.decisions),
      ...(o.run !== undefined ? { runId: o.run } : {}),
      ...(o.reviewer !== undefined ? { reviewer: o.reviewer } : {}),
    }
    const d = await reportingBadRows(() => withProject(o.project, (db) => applyDecisionsFile(db, req)))
    printDecisions(ctx.log, d)
    return d
  },
})

const audit = defineCommand<{
  project: string
  run?: number
  of: 'all' | 'unflagged'
  precision?: number
  expected?: number
  seed?: number
  dryRun?: boolean
  out?: string
  answers?: string
  auditor?: string
  report?: boolean
  audit?: number
}>({
  name: 'audit',
  summary: 'measure the final labels: draw a seeded random sample to label blind, apply the answers, report the accuracy with a 95% interval',
  options: (cmd) =>
    projectOption(cmd)
      .addOption(new Option('--run <id>', 'the run whose flags define the unflagged part (default: the latest finished run)').argParser(integer(1)))
      .addOption(
        new Option('--of <part>', 'draw from every labelled sample or from those the run did not flag').choices(['all', 'unflagged']).default('all'),
      )
      .addOption(new Option('--precision <h>', 'half-width of the 95% interval to plan for (default 0.03: ±3 points)').argParser(between(0, 0.5)))
      .addOption(new Option('--expected <p>', 'planning accuracy: what you expect (default 0.5, the worst case)').argParser(between(0, 1)))
      .addOption(new Option('--seed <s>', 'random seed of the draw (default: a random one, recorded)').argParser(integer(0)))
      .option('--dry-run', 'print the size of the audit without drawing it')
      .option('--out <csv>', 'write the drawn samples as an answers file to fill in (path,label,auditor)')
      .option('--answers <csv>', 'apply an answers file path,label,auditor (all rows or, if any is bad, none)')
      .option('--auditor <name>', 'with --answers: auditor for rows that leave it empty')
      .option('--report', 'print the estimate of the audit')
      .addOption(new Option('--audit <id>', 'with --answers or --report: which audit (default: the newest)').argParser(integer(1))),
  async run(o, ctx) {
    const uc = await usecases.audit()
    if (o.answers !== undefined && o.report) throw new UsageError('give --answers or --report, not both')
    const drawFlags = ['run', 'precision', 'expected', 'seed', 'dryRun', 'out'] as const
    const mode = o.answers !== undefined ? '--answers' : o.report ? '--report' : null
    if (mode) {
      const extra = drawFlags.filter((f) => o[f] !== undefined).map((f) => `--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`)
      if (extra.length || o.of !== 'all')
        throw new UsageError(`${mode} takes no ${[...extra, ...(o.of !== 'all' ? ['--of'] : [])].join(', ')} (those draw an audit)`)
    } else if (o.audit !== undefined || o.auditor !== undefined) throw new UsageError('--audit and --auditor go with --answers or --report')
    if (o.answers !== undefined) {
      const file = resolve(o.answers)
      const r = await reportingBadRows(() =>
        withProject(o.project, (db) =>
          uc.applyAnswersFile(db, {
            file,
            ...(o.audit !== undefined ? { auditId: o.audit } : {}),
            ...(o.auditor !== undefined ? { auditor: o.auditor } : {}),
          }),
        ),
      )
      ctx.log(
        `audit ${r.id}: ${r.applied} answers applied; ${r.answered} of ${r.size} samples answered${r.complete ? ' (complete: qc audit --report)' : ''}`,
      )
      return r
    }
    if (o.report) {
      const r = await withProject(o.project, (db) => {
        if (o.audit !== undefined) return uc.auditReport(db, o.audit)
        const latest = uc.latestAuditReport(db)
        if (!latest) throw new Error('the project has no audit yet: draw one with qc audit --project P')
        return latest
      })
      printAuditReport(ctx.log, r)
      return r
    }
    const req = {
      stratum: o.of,
      ...(o.run !== undefined ? { runId: o.run } : {}),
      ...(o.precision !== undefined ? { precision: o.precision } : {}),
      ...(o.expected !== undefined ? { expected: o.expected } : {}),
    }
    if (o.dryRun) {
      const plan = await withProject(o.project, (db) => uc.planAudit(db, req))
      printAuditPlan(ctx.log, plan)
      return plan
    }
    const { formatCsv } = await import('../engine/util/csv.ts')
    const { writeFileAtomic } = await import('../engine/util/atomic.ts')
    // Checked before the draw: an audit is stored for good, its answers file must not fail after.
    if (o.out !== undefined && existsSync(o.out)) throw new UsageError(`--out ${o.out} already exists; name a new file`)
    const out = await withProject(o.project, (db) => {
      const plan = uc.planAudit(db, req)
      const a = uc.startAudit(db, { ...req, ...(o.seed !== undefined ? { seed: o.seed } : {}) })
      return { plan, audit: a, paths: uc.auditPaths(db, a.id) }
    })
    const template = o.out !== undefined ? resolve(o.out) : undefined
    if (template) writeFileAtomic(template, formatCsv([['path', 'label', 'auditor'], ...out.paths.map((p) => [p, '', ''])]))
    printAuditPlan(ctx.log, out.plan, { id: out.audit.id, seed: out.audit.seed, paths: out.paths, ...(template ? { template } : {}) })
    return { ...out.audit, plan: out.plan, paths: out.paths, ...(template ? { template } : {}) }
  },
})

const info = defineCommand<{ project: string }>({
  name: 'info',
  summary: 'what a project holds: samples, classes, backbones, runs, skipped files',
  options: (cmd) => projectOption(cmd),
  async run(o, ctx) {
    const { projectInfo } = await usecases.info()
    const i = await withProject(o.project, (db, path) => projectInfo(db, path))
    printInfo(ctx.log, i)
    return i
  },
})

const backbones = defineCommand<{ project?: string }>({
  name: 'backbones',
  summary: 'list the built-in, catalogue and registered backbones',
  options: (cmd) => projectOption(cmd, 'optional', 'also list the backbones registered in this project'),
  async run(o, ctx) {
    const { backboneChoices } = await usecases.info()
    const b = o.project !== undefined && existsSync(o.project) ? await withProject(o.project, (db) => backboneChoices(db)) : backboneChoices()
    printBackbones(ctx.log, b)
    return b
  },
})

const serve = defineCommand<{
  port: number
  host: string
  allowRemote?: boolean
  data?: string
  root: string[]
  allowBackboneServer: string[]
  build: boolean
}>({
  name: 'serve',
  summary: 'web mode: the app in a browser, on http://127.0.0.1 with a token in the URL',
  options: (cmd) =>
    cmd
      .addOption(new Option('--port <n>', 'port (0: a free one)').argParser(integer(0, 65535)).default(0))
      .option('--host <h>', 'interface to bind; anything but loopback needs --allow-remote', '127.0.0.1')
      .option('--allow-remote', 'allow a non-loopback --host: anyone with the URL can change labels')
      .option('--data <dir>', 'app data folder: recent projects, the demo (default ~/.seed-qc)')
      .option(
        '--root <dir>',
        'a dataset folder the app may read and write (repeatable); paths outside it and the data folder are refused',
        (v: string, prev: string[]) => [...prev, v],
        [] as string[],
      )
      .option(
        '--allow-backbone-server <origin>',
        'an inference server (http://HOST:PORT) that remote backbones may use (repeatable); without it web mode sends no requests to other servers',
        (v: string, prev: string[]) => [...prev, v],
        [] as string[],
      )
      .option('--no-build', 'do not build the web app when dist/web is missing'),
  async run(o, ctx) {
    const { isLoopback, startServer } = await import('../server/server.ts')
    if (!isLoopback(o.host) && !o.allowRemote)
      throw new UsageError(`--host ${o.host} is reachable from other machines: add --allow-remote to confirm`)
    const roots = o.root.map((r) => {
      const abs = resolve(r)
      if (!statSync(abs, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`--root ${r}: no such folder`)
      return abs
    })
    const backboneServers = o.allowBackboneServer.map((s) => {
      const u = URL.canParse(s) ? new URL(s) : undefined
      if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.pathname !== '/' || u.search || u.username) {
        throw new UsageError(`--allow-backbone-server ${s}: give a server as http://HOST:PORT`)
      }
      return u.origin
    })
    const dataDir = ensureDir(o.data ?? join(homedir(), '.seed-qc'))
    const srv = await startServer({
      host: o.host,
      port: o.port,
      dataDir,
      roots,
      allowRemote: o.allowRemote === true,
      backboneServers,
      ...(o.build ? {} : { autoBuild: false }),
    })
    // Printed even with --json: the URL (with its token) is how the app is opened.
    console.log(`seed-qc web mode: open ${srv.url}`)
    console.log(`files: only under ${[dataDir, ...roots].join(', ')}${roots.length ? '' : ' (add dataset folders with --root DIR)'}`)
    if (backboneServers.length) console.log(`remote backbones: only on ${backboneServers.join(', ')}`)
    await new Promise<void>((done) => ctx.signal.addEventListener('abort', () => done(), { once: true }))
    await srv.close()
    return undefined
  },
})

/** Every command, in the order `qc --help` lists them. */
export const commands: CommandSpec[] = [demo, run, importCommand, extract, refine, review, audit, validate, exportCommand, info, backbones, serve]
