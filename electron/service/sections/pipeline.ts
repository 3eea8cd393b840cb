/**
 * Service section: the pipeline (import, backbones, feature extraction, refinement runs). Long
 * work starts a job and relays the engine's use cases; nothing here decides what the product does.
 */
import { basename, extname, join } from 'node:path'
import { existsSync } from 'node:fs'
import type { ImportResult } from '../../../shared/contract.ts'
import { listImports, listSkipped } from '../../engine/store/samples.ts'
import { ConflictError, NotFoundError } from '../../engine/errors.ts'
import { failRun } from '../../engine/store/runs.ts'
import * as q from '../../engine/store/read-model.ts'
import type { Handlers, ServiceContext } from '../context.ts'
import { allowedRemoteUrl } from '../remote-backbones.ts'

/** The import use case, loaded on demand (image decoding loads native code). */
async function importUseCase(...args: Parameters<typeof import('../../engine/usecases/import.ts').importIntoProject>) {
  const { importIntoProject } = await import('../../engine/usecases/import.ts')
  return importIntoProject(...args)
}

function toImportResult(s: {
  importId: number
  added: number
  existing: number
  updated: { path: string; what: string }[]
  skipped: { path: string; reason: string }[]
  classes: string[]
}): ImportResult {
  return { importId: s.importId, added: s.added, existing: s.existing, updated: s.updated, skipped: s.skipped, classes: s.classes }
}

export function pipelineSection(ctx: ServiceContext) {
  const { dataDir, features, need, requireAbsolute, startProjectJob, pickBackbone, backboneInfo, confinement, backboneServers } = ctx
  // Web mode: links and CSV rows leading outside the allowed folders are skipped, not read.
  const confined = confinement ? { confinement } : {}
  async function useBuiltinBackbone(): Promise<q.BackboneSummary> {
    const { db } = need()
    // The same registration as the CLI and the demo (the built-in's preprocessing with it).
    const { ensureBackbone } = await import('../../engine/backbone/backbone.ts')
    return backboneInfo(db, (await ensureBackbone(db, 'builtin')).id)
  }
  return {
    // --- import ---
    async importFolder(input) {
      const p = need()
      const root = requireAbsolute(input.root, 'folder')
      return startProjectJob(p, 'import', input, `Import ${root}`, async (job) =>
        toImportResult(
          await importUseCase(p.db, { source: { kind: 'folder', root }, ...(input.split ? { split: input.split } : {}), ...confined }, job),
        ),
      )
    },
    async importCsv(input) {
      const p = need()
      const csv = requireAbsolute(input.csvFile, 'CSV file')
      const imagesRoot = input.imagesRoot ? requireAbsolute(input.imagesRoot, 'images folder') : undefined
      return startProjectJob(p, 'import', input, `Import ${csv}`, async (job) =>
        toImportResult(await importUseCase(p.db, { source: { kind: 'csv', csvFile: csv, ...(imagesRoot ? { imagesRoot } : {}) }, ...confined }, job)),
      )
    },
    async importEmbeddings(input) {
      const p = need()
      const npy = requireAbsolute(input.npyFile, 'embeddings file')
      const labels = requireAbsolute(input.labelsCsv, 'labels CSV')
      return startProjectJob(p, 'import', input, `Import embeddings ${npy}`, async (job) => {
        const r = await importUseCase(p.db, { source: { kind: 'embeddings', npyFile: npy, labelsCsv: labels } }, job)
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

    // --- backbones ---
    async listBackbones() {
      return { backbones: q.backboneSummaries(need().db) }
    },
    async useBuiltinBackbone() {
      return useBuiltinBackbone()
    },
    async listCatalogue() {
      const { catalogue } = await import('../../engine/backbone/catalogue.ts')
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
          featureLayer: e.featureLayer,
          checksumSource: e.sha256 ? e.checksumSource : null,
        })),
      }
    },
    async downloadBackbone(input) {
      const p = need()
      const { catalogueEntry } = await import('../../engine/backbone/catalogue.ts')
      const entry = catalogueEntry(input.name)
      return startProjectJob(p, 'download', input, `Download ${entry.name}`, async ({ progress, signal }) => {
        // The same path as the CLI: download (size and sha256 checked), then register with the entry's feature tensor.
        const { ensureBackbone } = await import('../../engine/backbone/backbone.ts')
        const row = await ensureBackbone(p.db, entry.id, {
          modelsDir: join(dataDir, 'models'),
          progress,
          signal,
          ...(input.featureLayer !== undefined ? { featureLayer: input.featureLayer } : {}),
        })
        return backboneInfo(p.db, row.id)
      })
    },
    async addBackboneFile(input) {
      const { db } = need()
      const file = requireAbsolute(input.path, 'model file')
      const { registerBackbone } = await import('../../engine/backbone/backbone.ts')
      const row = await registerBackbone(db, {
        name: input.name ?? basename(file, extname(file)),
        kind: 'file',
        modelPath: file,
        ...(input.featureLayer !== undefined ? { featureLayer: input.featureLayer } : {}),
      })
      return backboneInfo(db, row.id)
    },
    async addRemoteBackbone(input) {
      const { db } = need()
      const url = await allowedRemoteUrl(input.url, confinement !== null, backboneServers)
      const { ensureBackbone } = await import('../../engine/backbone/backbone.ts')
      return backboneInfo(db, (await ensureBackbone(db, url)).id)
    },
    async executionProviders() {
      const { availableExecutionProviders } = await import('../../engine/backbone/backbone.ts')
      return { available: availableExecutionProviders(), default: 'cpu' }
    },

    // --- extraction ---
    async extractFeatures(input) {
      const p = need()
      let backboneId = input.backboneId
      if (backboneId === undefined) backboneId = (await useBuiltinBackbone()).id
      else {
        const b = backboneInfo(p.db, backboneId)
        // A remote backbone registered elsewhere (the CLI) is held to the same rule as a new one.
        if (b.kind === 'remote' && b.modelPath) await allowedRemoteUrl(b.modelPath, confinement !== null, backboneServers)
      }
      const bb = backboneId
      return startProjectJob(p, 'extract', { ...input, backboneId: bb }, 'Extract features', async ({ progress, signal }) => {
        const { extractProjectFeatures } = await import('../../engine/usecases/extract.ts')
        const t0 = Date.now()
        const out = await extractProjectFeatures(
          p.db,
          {
            backbone: String(bb),
            ...(input.batchSize ? { batchSize: input.batchSize } : {}),
            ...(input.executionProvider ? { executionProvider: input.executionProvider } : {}),
          },
          { progress, signal },
        )
        const r = out.summary
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

    // --- runs ---
    async refineDefaults(input) {
      const { db } = need()
      const backboneId = pickBackbone(db, input.backboneId)
      return {
        recommended: 'auto' as const,
        reason:
          'Which refinement helps depends on your data: PLL wins at high uniform noise, the teacher or SD when an inspector confuses pairs of classes. Auto scores them on held-out parts of your labels (a sample’s trusted label where it has one, else its given label) and takes the best; the run shows the scores and why. To check the tool on labels it never saw, use Validate, which holds the trusted samples out.',
        defaults: { method: 'auto' as const, backboneId, lambda: 'auto' as const, pllLoss: 'auto' as const, seed: 0 },
      }
    },
    async startRun(input) {
      const p = need()
      const backboneId = pickBackbone(p.db, input.backboneId)
      const method = input.method ?? 'auto'
      return startProjectJob(p, 'refine', { ...input, method, backboneId }, `Refine (${method})`, async ({ progress, signal }) => {
        const { refine } = await import('../../engine/usecases/refine.ts')
        const { runId } = await refine(p.db, { ...input, method, backboneId }, { progress, signal })
        const s = q.runSummary(p.db, runId)
        if (!s) throw new Error(`run ${runId} was not recorded`)
        return s
      })
    },
    async refreshSuggestions(input) {
      const p = need()
      return startProjectJob(p, 'refresh', input, 'Update suggestions from review decisions', async ({ progress, signal }) => {
        const { refreshSuggestions } = await import('../../engine/usecases/refresh.ts')
        const r = await refreshSuggestions(p.db, input, { progress, signal })
        const run = q.runSummary(p.db, r.runId)
        if (!run) throw new Error(`run ${r.runId} was not recorded`)
        return {
          run,
          fromRunId: r.fromRunId,
          changed: r.changed,
          newlyFlagged: r.newlyFlagged,
          unflagged: r.unflagged,
          reviewed: r.reviewed,
          decidedDuring: r.decidedDuring,
        }
      })
    },
    async listRuns() {
      return { runs: q.listRuns(need().db) }
    },
    async getRun(input) {
      const r = q.runDetail(need().db, input.runId)
      if (!r) throw new NotFoundError(`no run with id ${input.runId} in this project`)
      return r
    },
    async discardRun(input) {
      const { db } = need()
      const r = q.runSummary(db, input.runId)
      if (!r) throw new NotFoundError(`no run with id ${input.runId} in this project`)
      // Only a run whose process is gone: a live one is cancelled through its job, a finished one stays.
      if (r.status !== 'interrupted')
        throw new ConflictError(`run ${input.runId} is ${r.status}, not interrupted: only an interrupted run can be discarded`)
      failRun(db, input.runId, 'failed', 'interrupted')
      return q.runSummary(db, input.runId)!
    },
  } satisfies Partial<Handlers>
}
