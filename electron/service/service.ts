/**
 * The engine service: implements every method of the shared contract on the engine modules, for
 * one open project at a time. Both transports use it: the web server (in-process) and the
 * Electron app (inside a utilityProcess, see utility-entry.ts).
 *
 * The handler table is typed by the contract (`Handlers`, a mapped type over its keys), so a
 * method added to the contract fails type-checking here until it is implemented. `call()`
 * validates every input and output against the contract schemas.
 *
 * Heavy engine modules (onnxruntime, training, sharp) are imported lazily inside the handlers
 * that need them, so the server starts fast.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs'
import { basename, extname, isAbsolute, join, resolve } from 'node:path'
import {
  ContractError,
  contract,
  isMethodName,
  type EngineEvent,
  type ImportResult,
  type JobKind,
  type JobRef,
  type MethodName,
  type OutputOf,
  type ParsedInputOf,
  type ProjectInfo,
  type RecentProject,
} from '../../shared/contract.ts'
import { CancelledError } from '../engine/jobs/progress.ts'
import { getMeta, openDb, type Db } from '../engine/store/db.ts'
import { listImports, listSkipped } from '../engine/store/samples.ts'
import { FeatureCache, nearestNeighbours } from './embedding.ts'
import { imageForSample, sampleImageFile, type ImageFile } from './images.ts'
import { JobManager, type JobContext } from './job-manager.ts'
import * as q from './queries.ts'

/** One handler per contract method, typed from the contract. */
export type Handlers = { [K in MethodName]: (input: ParsedInputOf<K>) => Promise<OutputOf<K>> }

/** What createService returns. */
export interface Service {
  /** Validates `input` with the contract, runs the method, validates the output. Rejects with ContractError. */
  call(method: string, input: unknown): Promise<unknown>
  /** The typed handlers (already-validated input). */
  readonly handlers: Handlers
  /** Listens to engine events; returns an unsubscribe function. */
  subscribe(listener: (e: EngineEvent) => void): () => void
  /** The absolute image file of a sample registered in the open project, or undefined. */
  imagePath(sampleId: number): string | undefined
  /** The file to serve for a sample image (original or cached JPEG), or undefined. */
  image(sampleId: number, size: 'thumb' | 'full'): Promise<ImageFile | undefined>
  /** The job manager (tests, supervision). */
  readonly jobs: JobManager
  /** Cancels running jobs and closes the project. */
  close(): Promise<void>
}

export interface ServiceOptions {
  /** Folder for app data: recent.json, projects created by name, the demo, thumbnail cache, downloaded models. */
  dataDir: string
  mode?: 'web' | 'electron'
  version?: string
  /** Minimum milliseconds between progress events of one job. */
  progressIntervalMs?: number
}

interface OpenProject {
  db: Db
  path: string
}

const MAX_RECENT = 12

function noProject(): never {
  throw new ContractError('no_project', 'no project is open: create or open one first')
}

function formatIssues(issues: { path: PropertyKey[]; message: string }[]): string {
  return issues.map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`).join('; ')
}

/** Converts any thrown value to a ContractError with a fitting code. */
export function asContractError(e: unknown): ContractError {
  if (e instanceof ContractError) return e
  if (e instanceof CancelledError) return new ContractError('cancelled', e.message)
  const msg = e instanceof Error ? e.message : String(e)
  if (/already exists/i.test(msg)) return new ContractError('conflict', msg)
  if (/no such|not found|does not exist|ENOENT/i.test(msg)) return new ContractError('not_found', msg)
  return new ContractError('bad_request', msg)
}

function appVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }
    return pkg.version ?? '0.0.0'
  } catch {
    return '0.0.0'
  }
}

/**
 * Creates the engine service over a data folder. One project is open at a time; opening another
 * closes the first (after cancelling its jobs).
 */
export function createService(opts: ServiceOptions): Service {
  const dataDir = resolve(opts.dataDir)
  mkdirSync(dataDir, { recursive: true })
  const mode = opts.mode ?? 'web'
  const version = opts.version ?? appVersion()
  const jobs = new JobManager(opts.progressIntervalMs ?? 200)
  const features = new FeatureCache()
  const recentFile = join(dataDir, 'recent.json')
  const thumbDir = join(dataDir, 'cache', 'thumbs')
  let current: OpenProject | null = null

  const need = (): OpenProject => current ?? noProject()

  // --- recent projects ------------------------------------------------------------------------
  function readRecent(): { path: string; name: string; openedAt: string }[] {
    try {
      const v = JSON.parse(readFileSync(recentFile, 'utf8')) as unknown
      if (!Array.isArray(v)) return []
      return v.filter(
        (r): r is { path: string; name: string; openedAt: string } =>
          !!r && typeof r.path === 'string' && typeof r.name === 'string' && typeof r.openedAt === 'string',
      )
    } catch {
      return []
    }
  }
  function rememberRecent(path: string): void {
    const list = readRecent().filter((r) => r.path !== path)
    list.unshift({ path, name: projectName(path), openedAt: new Date().toISOString() })
    const tmp = `${recentFile}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(list.slice(0, MAX_RECENT), null, 2))
    renameSync(tmp, recentFile)
  }

  function projectName(path: string): string {
    return basename(path, extname(path))
  }

  function projectInfo(p: OpenProject): ProjectInfo {
    const { db } = p
    const count = (sql: string): number => (db.prepare(sql).get() as { n: number }).n
    return {
      path: p.path,
      name: projectName(p.path),
      createdAt: getMeta(db, 'created_at') ?? null,
      samples: count('SELECT count(*) AS n FROM samples'),
      splits: {
        train: count("SELECT count(*) AS n FROM samples WHERE split = 'train'"),
        test: count("SELECT count(*) AS n FROM samples WHERE split = 'test'"),
      },
      trusted: count('SELECT count(*) AS n FROM samples WHERE trusted_class_id IS NOT NULL'),
      classes: q.classesWithCounts(db),
      backbones: count('SELECT count(*) AS n FROM backbones'),
      runs: count('SELECT count(*) AS n FROM runs'),
      demo: getMeta(db, 'demo') === 'true',
    }
  }

  async function closeCurrent(): Promise<string | null> {
    const open = current
    if (!open) return null
    // Only this project's jobs: a job that opens another project (the demo) must not wait on itself.
    await jobs.cancelAll(open.path)
    if (current !== open) return null
    current = null
    open.db.close()
    features.clear()
    jobs.emit({ type: 'project:closed', path: open.path })
    return open.path
  }

  async function openPath(path: string, create: boolean): Promise<ProjectInfo> {
    const abs = resolve(path)
    if (!create && !existsSync(abs)) throw new ContractError('not_found', `${abs}: no such project file`)
    if (create && existsSync(abs)) throw new ContractError('conflict', `${abs}: a file with this name already exists; open it instead`)
    const db = openDb(abs, { create })
    await closeCurrent()
    current = { db, path: abs }
    rememberRecent(abs)
    const info = projectInfo(current)
    jobs.emit({ type: 'project:opened', project: info })
    return info
  }

  function safeFileName(name: string): string {
    // Control characters are exactly what must go from a file name.
    const s = name
      .normalize('NFC')
      // eslint-disable-next-line no-control-regex
      .replace(/[\\/:*?"<>|\u0000-\u001f]/g, '_')
      .replace(/^\.+/, '_')
      .trim()
    return s.slice(0, 120) || 'project'
  }

  function requireAbsolute(p: string, what: string): string {
    if (!isAbsolute(p)) throw new ContractError('bad_request', `${what} must be an absolute path on the engine's machine: ${p}`)
    return resolve(p)
  }

  /** Backbone to use: the requested one (checked) or the one with the most stored features. */
  function pickBackbone(db: Db, backboneId: number | undefined): number {
    if (backboneId !== undefined) {
      const r = db.prepare('SELECT id FROM backbones WHERE id = ?').get(backboneId) as { id: number } | undefined
      if (!r) throw new ContractError('not_found', `no backbone with id ${backboneId} in this project`)
      return r.id
    }
    const r = db
      .prepare(
        'SELECT b.id AS id, (SELECT count(*) FROM samples s JOIN features f ON f.hash = s.hash AND f.backbone_id = b.id) AS n FROM backbones b ORDER BY n DESC, b.id DESC LIMIT 1',
      )
      .get() as { id: number; n: number } | undefined
    if (!r || r.n === 0) throw new ContractError('conflict', 'no features in this project yet: extract features (or import embeddings) first')
    return r.id
  }

  function backboneInfos(db: Db): OutputOf<'listBackbones'>['backbones'] {
    const rows = db
      .prepare(
        'SELECT b.id, b.name, b.kind, b.dim, b.model_path AS modelPath, b.input_shape AS inputShape, (SELECT count(*) FROM samples s JOIN features f ON f.hash = s.hash AND f.backbone_id = b.id) AS features FROM backbones b ORDER BY b.id',
      )
      .all() as {
      id: number
      name: string
      kind: 'builtin' | 'catalogue' | 'file' | 'embeddings'
      dim: number
      modelPath: string | null
      inputShape: string | null
      features: number
    }[]
    return rows.map((r) => ({ ...r, inputShape: r.inputShape ? (JSON.parse(r.inputShape) as (number | string)[]) : null }))
  }
  function backboneInfo(db: Db, id: number): OutputOf<'listBackbones'>['backbones'][number] {
    const b = backboneInfos(db).find((x) => x.id === id)
    if (!b) throw new ContractError('not_found', `no backbone with id ${id}`)
    return b
  }

  function toImportResult(s: {
    importId: number
    added: number
    existing: number
    skipped: { path: string; reason: string }[]
    classes: string[]
  }): ImportResult {
    return { importId: s.importId, added: s.added, existing: s.existing, skipped: s.skipped, classes: s.classes }
  }

  // Jobs capture the project they started on; closing it cancels them (scope = its path).
  function projectJobKey(p: OpenProject, rest: unknown): string {
    return `${p.path}:${JSON.stringify(rest)}`
  }
  function startProjectJob<T>(p: OpenProject, kind: JobKind, rest: unknown, label: string, body: (ctx: JobContext) => Promise<T>): JobRef {
    return jobs.start(kind, projectJobKey(p, rest), label, body, { scope: p.path })
  }

  const handlers: Handlers = {
    // --- app -----------------------------------------------------------------------------------
    async appInfo() {
      return { name: 'Seed QC', version, mode, dataDir, platform: process.platform }
    },

    // --- projects ------------------------------------------------------------------------------
    async listRecentProjects() {
      const projects: RecentProject[] = readRecent().map((r) => ({ ...r, exists: existsSync(r.path) }))
      return { projects }
    },
    async createProject(input) {
      const path = input.path
        ? requireAbsolute(input.path, 'project path')
        : join(dataDir, 'projects', `${safeFileName(input.name ?? 'project')}.qcdb`)
      return openPath(path, true)
    },
    async openProject(input) {
      return openPath(requireAbsolute(input.path, 'project path'), false)
    },
    async closeProject() {
      return { closed: (await closeCurrent()) !== null }
    },
    async currentProject() {
      return { project: current ? projectInfo(current) : null }
    },
    async createDemoProject(input) {
      return jobs.start('demo', JSON.stringify(input), 'Create the demo project', async ({ progress, signal }) => {
        // The same pipeline as `qc demo`: generate, import (audited fifth as trusted labels),
        // extract, refine with auto, write refined.csv; then open the project.
        const { runDemo } = await import('../engine/usecases/demo.ts')
        const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')
        const outDir = join(dataDir, 'demo', `demo-${stamp}`)
        mkdirSync(outDir, { recursive: true })
        const summary = await runDemo(
          outDir,
          {
            ...(input.perClass !== undefined ? { perClass: input.perClass } : {}),
            ...(input.seed !== undefined ? { seed: input.seed } : {}),
            ...(input.noiseRate !== undefined ? { noiseRate: input.noiseRate } : {}),
          },
          { progress, signal },
        )
        return openPath(summary.project, false)
      })
    },

    // --- import --------------------------------------------------------------------------------
    async importFolder(input) {
      const p = need()
      const root = requireAbsolute(input.root, 'folder')
      return startProjectJob(p, 'import', input, `Import ${root}`, async ({ progress, signal }) => {
        const { importImageFolder } = await import('../engine/import/image-folder.ts')
        return toImportResult(await importImageFolder(p.db, root, { ...(input.split ? { split: input.split } : {}), progress, signal }))
      })
    },
    async importCsv(input) {
      const p = need()
      const csv = requireAbsolute(input.csvFile, 'CSV file')
      const imagesRoot = input.imagesRoot ? requireAbsolute(input.imagesRoot, 'images folder') : undefined
      return startProjectJob(p, 'import', input, `Import ${csv}`, async ({ progress, signal }) => {
        const { importCsv } = await import('../engine/import/csv-manifest.ts')
        return toImportResult(await importCsv(p.db, csv, { ...(imagesRoot ? { imagesRoot } : {}), progress, signal }))
      })
    },
    async importEmbeddings(input) {
      const p = need()
      const npy = requireAbsolute(input.npyFile, 'embeddings file')
      const labels = requireAbsolute(input.labelsCsv, 'labels CSV')
      return startProjectJob(p, 'import', input, `Import embeddings ${npy}`, async ({ progress, signal }) => {
        const { importEmbeddings } = await import('../engine/import/embeddings.ts')
        const r = await importEmbeddings(p.db, npy, labels, { progress, signal })
        features.clear()
        return toImportResult(r)
      })
    },
    async listImports() {
      const { db } = need()
      return {
        imports: listImports(db).map((r) => ({
          id: r.id,
          kind: r.kind,
          origin: r.origin,
          startedAt: r.startedAt,
          finishedAt: r.finishedAt,
          added: r.added,
          existing: r.existing,
          skipped: r.skipped,
        })),
      }
    },
    async listSkipped(input) {
      const { db } = need()
      const all = listSkipped(db, { importId: input.importId })
      return { total: all.length, skipped: all.slice(input.offset, input.offset + input.limit).map((s) => ({ path: s.path, reason: s.reason })) }
    },

    // --- backbones -----------------------------------------------------------------------------
    async listBackbones() {
      return { backbones: backboneInfos(need().db) }
    },
    async useBuiltinBackbone() {
      const { db } = need()
      const { ensureBuiltinModel, BUILTIN_NAME } = await import('../engine/backbone/builtin.ts')
      const { registerBackbone, getBackbone } = await import('../engine/backbone/backbone.ts')
      const existing = getBackbone(db, BUILTIN_NAME)
      const row = existing ?? (await registerBackbone(db, { name: BUILTIN_NAME, kind: 'builtin', modelPath: ensureBuiltinModel() }))
      return backboneInfo(db, row.id)
    },
    async listCatalogue() {
      const { catalogue } = await import('../engine/backbone/catalogue.ts')
      const dir = join(dataDir, 'models')
      return {
        entries: catalogue.map((e) => ({
          name: e.id,
          description: `${e.name}. ${e.notes}`,
          url: e.url,
          sizeBytes: e.bytes,
          sha256: e.sha256,
          dim: e.dim,
          license: e.licence,
          downloaded: existsSync(join(dir, e.file)),
        })),
      }
    },
    async downloadBackbone(input) {
      const p = need()
      const { catalogueEntry } = await import('../engine/backbone/catalogue.ts')
      const entry = catalogueEntry(input.name)
      return startProjectJob(p, 'download', input, `Download ${entry.name}`, async ({ progress, signal }) => {
        const { downloadCatalogueModel } = await import('../engine/backbone/catalogue.ts')
        const { registerBackbone } = await import('../engine/backbone/backbone.ts')
        const file = await downloadCatalogueModel(entry.id, join(dataDir, 'models'), { progress, signal })
        const row = await registerBackbone(p.db, { name: entry.id, kind: 'catalogue', modelPath: file, preprocess: entry.preprocess })
        return backboneInfo(p.db, row.id)
      })
    },
    async addBackboneFile(input) {
      const { db } = need()
      const file = requireAbsolute(input.path, 'model file')
      const { registerBackbone } = await import('../engine/backbone/backbone.ts')
      const row = await registerBackbone(db, { name: input.name ?? basename(file, extname(file)), kind: 'file', modelPath: file })
      return backboneInfo(db, row.id)
    },
    async executionProviders() {
      const { availableExecutionProviders } = await import('../engine/backbone/backbone.ts')
      return { available: availableExecutionProviders(), default: 'cpu' }
    },

    // --- extraction ----------------------------------------------------------------------------
    async extractFeatures(input) {
      const p = need()
      let backboneId = input.backboneId
      if (backboneId === undefined) backboneId = (await handlers.useBuiltinBackbone({})).id
      else backboneInfo(p.db, backboneId)
      const bb = backboneId
      return startProjectJob(p, 'extract', { ...input, backboneId: bb }, 'Extract features', async ({ progress, signal }) => {
        const { extractFeatures } = await import('../engine/extract/extract.ts')
        const t0 = Date.now()
        const r = await extractFeatures(p.db, {
          backbone: bb,
          ...(input.batchSize ? { batchSize: input.batchSize } : {}),
          ...(input.executionProvider ? { executionProvider: input.executionProvider } : {}),
          progress,
          signal,
        })
        features.clear()
        const secs = r.seconds > 0 ? r.seconds : (Date.now() - t0) / 1000
        const total = r.computed + r.reused + r.failed.length
        return {
          backboneId: bb,
          total,
          computed: r.computed,
          reused: r.reused,
          failed: r.failed.map((f) => ({ path: f.path, reason: f.reason })),
          imagesPerSecond: r.computed > 0 && secs > 0 ? r.computed / secs : null,
        }
      })
    },

    // --- runs ----------------------------------------------------------------------------------
    async refineDefaults(input) {
      const { db } = need()
      const backboneId = pickBackbone(db, input.backboneId)
      return {
        recommended: 'auto' as const,
        reason:
          'Which refinement helps depends on your data: PLL wins at high uniform noise, the teacher or SD when an inspector confuses pairs of classes. Auto scores them on held-out parts of your given labels (the trusted labels are never used) and takes the best; the run shows the scores and why.',
        defaults: { method: 'auto' as const, backboneId, lambda: 'auto' as const, pllLoss: 'auto' as const, seed: 0 },
      }
    },
    async startRun(input) {
      const p = need()
      const backboneId = pickBackbone(p.db, input.backboneId)
      const method = input.method ?? 'auto'
      return startProjectJob(p, 'refine', { ...input, method, backboneId }, `Refine (${method})`, async ({ progress, signal }) => {
        const { refine } = await import('../engine/usecases/refine.ts')
        const { runId } = await refine(p.db, { ...input, method, backboneId }, { progress, signal })
        const s = q.runSummary(p.db, runId)
        if (!s) throw new Error(`run ${runId} was not recorded`)
        return s
      })
    },
    async listRuns() {
      return { runs: q.listRuns(need().db) }
    },
    async getRun(input) {
      const r = q.runDetail(need().db, input.runId)
      if (!r) throw new ContractError('not_found', `no run with id ${input.runId} in this project`)
      return r
    },

    // --- review --------------------------------------------------------------------------------
    async querySamples(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      return { ...q.querySamples(db, input, runId), offset: input.offset, runId }
    },
    async getSample(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      const s = q.sampleWithTop(db, input.sampleId, runId)
      if (!s) throw new ContractError('not_found', `no sample with id ${input.sampleId} in this project`)
      let neighbours: OutputOf<'getSample'>['neighbours'] = []
      if (input.neighbours > 0) {
        const run =
          runId !== null ? (db.prepare('SELECT backbone_id AS b FROM runs WHERE id = ?').get(runId) as { b: number | null } | undefined) : undefined
        let backboneId: number | null = run?.b ?? null
        if (backboneId === null) {
          try {
            backboneId = pickBackbone(db, undefined)
          } catch {
            backboneId = null
          }
        }
        if (backboneId !== null) {
          const nn = nearestNeighbours(features.get(db, backboneId), input.sampleId, input.neighbours)
          const rows = q.rowsByIds(
            db,
            nn.map((n) => n.id),
            runId,
          )
          neighbours = nn.flatMap((n) => {
            const r = rows.get(n.id)
            return r ? [{ id: n.id, similarity: n.similarity, given: r.given, refined: r.refined, final: r.final, hasImage: r.hasImage }] : []
          })
        }
      }
      return { ...s.row, width: s.width, height: s.height, top: s.top, neighbours, history: q.reviewHistory(db, input.sampleId) }
    },
    async review(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      if (!q.sampleWithTop(db, input.sampleId, runId)) throw new ContractError('not_found', `no sample with id ${input.sampleId} in this project`)
      if (input.action === 'accept' && runId === null) throw new ContractError('conflict', 'nothing to accept: no finished refinement run')
      if (input.action === 'relabel') {
        const k = (db.prepare('SELECT count(*) AS n FROM classes').get() as { n: number }).n
        if (input.classIdx === undefined || input.classIdx >= k)
          throw new ContractError('bad_request', `class index ${input.classIdx} does not exist (the project has ${k} classes, 0..${k - 1})`)
      }
      const { recordDecision } = await import('../engine/review/review.ts')
      const ev = recordDecision(db, {
        sampleId: input.sampleId,
        action: input.action,
        ...(input.classIdx !== undefined ? { classIdx: input.classIdx } : {}),
        ...(runId !== null ? { runId } : {}),
        reviewer: input.reviewer,
      })
      jobs.emit({ type: 'review:changed', sampleIds: [input.sampleId], reviewer: input.reviewer })
      return { event: ev, sample: q.sampleWithTop(db, input.sampleId, runId)!.row }
    },
    async bulkAccept(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      if (runId === null) throw new ContractError('conflict', 'no finished run to accept suggestions from: run a refinement first')
      const rows = q.rowsByIds(db, input.sampleIds, runId)
      const ids = [...new Set(input.sampleIds)].filter((id) => rows.get(id)?.refined !== null && rows.has(id))
      const { recordDecisions } = await import('../engine/review/review.ts')
      recordDecisions(
        db,
        ids.map((sampleId) => ({ sampleId, action: 'accept' as const, runId, reviewer: input.reviewer })),
      )
      if (ids.length) jobs.emit({ type: 'review:changed', sampleIds: ids, reviewer: input.reviewer })
      return { accepted: ids.length, skipped: input.sampleIds.length - ids.length }
    },
    async undo(input) {
      const { db } = need()
      const { undoLast } = await import('../engine/review/review.ts')
      const ev = undoLast(db, { reviewer: input.reviewer })
      if (!ev) return { undone: null, sample: null }
      jobs.emit({ type: 'review:changed', sampleIds: [ev.sampleId], reviewer: input.reviewer })
      return { undone: ev, sample: q.sampleWithTop(db, ev.sampleId, q.latestRunId(db))?.row ?? null }
    },
    async reviewProgress(input) {
      const { db } = need()
      return q.reviewProgress(db, q.resolveRunId(db, input.runId))
    },

    // --- insights ------------------------------------------------------------------------------
    async confusion(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      return { runId, ...q.confusion(db, runId) }
    },
    async embeddingMap(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      let backboneId: number
      if (input.backboneId !== undefined) backboneId = pickBackbone(db, input.backboneId)
      else {
        const run =
          runId !== null ? (db.prepare('SELECT backbone_id AS b FROM runs WHERE id = ?').get(runId) as { b: number | null } | undefined) : undefined
        backboneId = run?.b ?? pickBackbone(db, undefined)
      }
      const { ids, xy, explained } = features.pca(db, backboneId, input.maxPoints)
      const rows = q.rowsByIds(db, ids, runId)
      const points = ids.map((id, i) => ({
        id,
        x: xy[i * 2]!,
        y: xy[i * 2 + 1]!,
        given: rows.get(id)?.given ?? null,
        refined: rows.get(id)?.refined ?? null,
      }))
      return { backboneId, explainedVariance: explained, points }
    },
    async noiseEstimate(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      return { runId, ...q.noiseEstimate(db, runId) }
    },

    // --- validation ----------------------------------------------------------------------------
    async startValidation(input) {
      const p = need()
      const backboneId = pickBackbone(p.db, input.backboneId)
      return startProjectJob(p, 'validate', { ...input, backboneId }, 'Validation sweep', async ({ progress, signal }) => {
        const { validateProject } = await import('../engine/validate/validate.ts')
        const refineOptions = {
          ...(input.lambda !== undefined ? { lambda: input.lambda } : {}),
          ...(input.pllLoss !== undefined ? { pllLoss: input.pllLoss } : {}),
        }
        const { validationId } = await validateProject(
          p.db,
          {
            noiseTypes: input.noiseTypes,
            rates: input.rates,
            seeds: input.seeds,
            methods: input.methods,
            backboneId,
            ...(input.sdRounds !== undefined ? { sdRounds: input.sdRounds } : {}),
            refineOptions,
          },
          { progress, signal },
        )
        return { validationId }
      })
    },
    async resumeValidation(input) {
      const p = need()
      const row = p.db.prepare('SELECT id FROM validations WHERE id = ?').get(input.validationId) as { id: number } | undefined
      if (!row) throw new ContractError('not_found', `no validation with id ${input.validationId} in this project`)
      return startProjectJob(
        p,
        'validate',
        { resume: input.validationId },
        `Resume validation ${input.validationId}`,
        async ({ progress, signal }) => {
          const { validateProject } = await import('../engine/validate/validate.ts')
          // The stored config is used; the one passed here is ignored by validateProject when resuming.
          const { validationId } = await validateProject(
            p.db,
            { noiseTypes: [], rates: [], seeds: [], methods: [] },
            { validationId: input.validationId, progress, signal },
          )
          return { validationId }
        },
      )
    },
    async listValidations() {
      const { db } = need()
      const rows = db.prepare('SELECT id, status, params, started_at, finished_at FROM validations ORDER BY id DESC').all() as {
        id: number
        status: 'running' | 'done' | 'failed' | 'cancelled'
        params: string
        started_at: string
        finished_at: string | null
      }[]
      return {
        validations: rows.map((r) => ({
          id: r.id,
          status: r.status,
          params: JSON.parse(r.params) as Record<string, unknown>,
          startedAt: r.started_at,
          finishedAt: r.finished_at,
        })),
      }
    },
    async getValidation(input) {
      const { db } = need()
      const r = db.prepare('SELECT id, status, params, results, started_at, finished_at FROM validations WHERE id = ?').get(input.validationId) as
        | {
            id: number
            status: 'running' | 'done' | 'failed' | 'cancelled'
            params: string
            results: string | null
            started_at: string
            finished_at: string | null
          }
        | undefined
      if (!r) throw new ContractError('not_found', `no validation with id ${input.validationId} in this project`)
      const raw = r.results
        ? (JSON.parse(r.results) as { cells?: { method: string; noiseType: string; rate: number; seed: number; metrics: Record<string, number> }[] })
        : null
      const cells = (raw?.cells ?? []).map((c) => ({
        method: c.method,
        noiseType: c.noiseType,
        rate: c.rate,
        seed: c.seed,
        metrics: Object.fromEntries(Object.entries(c.metrics ?? {}).filter(([, v]) => typeof v === 'number' && Number.isFinite(v))),
      }))
      return {
        id: r.id,
        status: r.status,
        params: JSON.parse(r.params) as Record<string, unknown>,
        startedAt: r.started_at,
        finishedAt: r.finished_at,
        cells,
        raw,
      }
    },
    async validationReport(input) {
      const { db } = need()
      const r = db.prepare('SELECT results FROM validations WHERE id = ?').get(input.validationId) as { results: string | null } | undefined
      if (!r) throw new ContractError('not_found', `no validation with id ${input.validationId} in this project`)
      if (!r.results) throw new ContractError('conflict', `validation ${input.validationId} has no results yet`)
      const report = await import('../engine/validate/report.ts')
      const result = JSON.parse(r.results) as Parameters<typeof report.toHtml>[0]
      const base = `validation-${input.validationId}`
      if (input.format === 'csv') return { filename: `${base}.csv`, mime: 'text/csv', content: report.toCsv(result) }
      if (input.format === 'json') return { filename: `${base}.json`, mime: 'application/json', content: report.toJson(result) }
      return { filename: `${base}.html`, mime: 'text/html', content: report.toHtml(result) }
    },

    // --- export --------------------------------------------------------------------------------
    async exportPreview(input) {
      const { db } = need()
      const runId = q.resolveRunId(db, input.runId)
      const { prepareExport } = await import('../engine/export/export.ts')
      const p = prepareExport(db, {
        ...(runId !== null ? { runId } : {}),
        onlyReviewed: input.onlyReviewed,
        ...(input.autoAccept !== undefined ? { autoAccept: input.autoAccept } : {}),
      })
      const classes = db.prepare('SELECT idx, name FROM classes ORDER BY idx').all() as { idx: number; name: string }[]
      const counts = new Map<number, number>()
      for (const r of p.rows) if (r.final !== null) counts.set(r.final, (counts.get(r.final) ?? 0) + 1)
      const total = (db.prepare('SELECT count(*) AS n FROM samples').get() as { n: number }).n
      return {
        total,
        included: p.rows.length,
        excluded: p.excluded,
        unreviewed: p.rows.filter((r) => r.status === 'unreviewed').length,
        byClass: classes.map((c) => ({ idx: c.idx, name: c.name, count: counts.get(c.idx) ?? 0 })),
      }
    },
    async exportLabels(input) {
      const p = need()
      const out = requireAbsolute(input.out, 'export destination')
      const runId = q.resolveRunId(p.db, input.runId)
      if (existsSync(out) && !input.force)
        throw new ContractError('conflict', `${out} already exists; choose another destination or overwrite it (force)`)
      return startProjectJob(p, 'export', input, `Export ${input.format} to ${out}`, async ({ progress, signal }) => {
        const { exportLabels } = await import('../engine/export/export.ts')
        const r = await exportLabels(p.db, {
          format: input.format,
          out,
          ...(runId !== null ? { runId } : {}),
          ...(input.onlyReviewed !== undefined ? { onlyReviewed: input.onlyReviewed } : {}),
          ...(input.autoAccept !== undefined ? { autoAccept: input.autoAccept } : {}),
          ...(input.force !== undefined ? { force: input.force } : {}),
          ...(input.link !== undefined ? { link: input.link ? ('hardlink' as const) : ('copy' as const) } : {}),
          appVersion: version,
          progress,
          signal,
        })
        return { out: r.out, written: r.written, format: r.format, excluded: r.excluded, changed: r.changed, skipped: r.skipped }
      })
    },

    // --- jobs ----------------------------------------------------------------------------------
    async listJobs() {
      return { jobs: jobs.list() }
    },
    async restartEngine() {
      return { restarted: false }
    },
    async cancelJob(input) {
      return { cancelled: jobs.cancel(input.jobId) }
    },
  }

  return {
    handlers,
    jobs,
    async call(method, input) {
      if (!isMethodName(method)) throw new ContractError('not_found', `unknown method '${method}'`)
      const def = contract[method]
      const parsed = def.input.safeParse(input ?? {})
      if (!parsed.success) throw new ContractError('bad_request', `${method}: ${formatIssues(parsed.error.issues)}`)
      let out: unknown
      try {
        out = await (handlers[method] as (i: unknown) => Promise<unknown>)(parsed.data)
      } catch (e) {
        throw asContractError(e)
      }
      const checked = def.output.safeParse(out)
      if (!checked.success)
        throw new ContractError('internal', `${method}: the service's response does not match the contract: ${formatIssues(checked.error.issues)}`)
      return checked.data
    },
    subscribe: (l) => jobs.subscribe(l),
    imagePath(sampleId) {
      if (!current) return undefined
      return sampleImageFile(current.db, sampleId)?.file
    },
    async image(sampleId, size) {
      if (!current) return undefined
      return imageForSample(current.db, sampleId, size, thumbDir)
    },
    async close() {
      await closeCurrent()
    },
  }
}
