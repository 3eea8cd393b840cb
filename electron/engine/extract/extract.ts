/**
 * Feature extraction: every image sample whose content hash has no feature row for the backbone is
 * read, checked against its hash, decoded and preprocessed (sharp), run through the backbone in
 * batches, and stored. Decoding of batch i+1 runs while batch i is in inference (sharp works on
 * libuv's thread pool, onnxruntime-node's run() on its own threads), so the slower of the two sets
 * the pace rather than their sum.
 *
 * Crash safety: each batch's features go into the database in one transaction as soon as the batch
 * is computed; a killed process (kill -9) loses at most the batches in flight, and a rerun picks up
 * exactly the hashes that have no row yet. Identical files (same hash) are computed once.
 *
 * In flight: one batch for a local model; a remote one (backbone/remote.ts) says how many requests
 * its pool takes, and that many batches go out at once, each stored as it comes back.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Db } from '../store/db.ts'
import { featureWriter, imageSamplesForExtraction } from '../store/features.ts'
import { CancelledError, type Progress } from '../jobs/progress.ts'
import { getBackbone, loadBackbone, type LoadedBackbone, type Logger } from '../backbone/backbone.ts'
import type { RemoteOptions } from '../backbone/remote.ts'
import { decodeImagePixels, pixelsToTensor, type DecodeOptions } from '../backbone/preprocess.ts'

export interface ExtractOptions {
  /** Backbone name or id (registered in this project). */
  backbone: number | string
  /** Images per inference call (default 32; a model with a fixed batch axis runs in its own size). */
  batchSize?: number
  /** 'cpu' (default), 'cuda', 'dml', 'coreml'; falls back to cpu with a logged reason. */
  executionProvider?: string
  /** Only these samples (default: every image sample). */
  sampleIds?: number[]
  /** Decode guard (pixel limit). */
  decode?: DecodeOptions
  progress?: Progress
  signal?: AbortSignal
  log?: Logger
  /** An already loaded backbone to use instead of loading one (benchmarks, repeated calls). */
  loaded?: LoadedBackbone
  /** Token, pool size and retries when the backbone is remote. */
  remote?: RemoteOptions
}

export interface ExtractFailure {
  /** Absolute path of the file. */
  path: string
  reason: string
}

export interface ExtractResult {
  backboneId: number
  /** Distinct images (content hashes) run through the backbone now. */
  computed: number
  /** Samples whose features were already stored (same content seen before, or an earlier run). */
  reused: number
  failed: ExtractFailure[]
  seconds: number
  /** Execution provider actually used ('none' when there was nothing to compute and no model was loaded). */
  executionProvider: string
}

/** CancelledError carrying what had been stored before the stop. */
export class ExtractCancelledError extends CancelledError {
  constructor(readonly partial: ExtractResult) {
    super('feature extraction')
  }
}

interface Job {
  hash: string
  /** Absolute paths of every selected sample with this content (the first is read). */
  paths: string[]
}

interface Prepared {
  /** Input tensor data of the jobs that decoded, back to back. */
  batch: Float32Array
  jobs: Job[]
}

/**
 * Computes and stores features for every selected image sample that has none for the backbone.
 * Returns counts and the files that could not be decoded (each with its reason; they do not stop
 * the run). On abort it stops after the batch in progress is stored and throws
 * ExtractCancelledError (a CancelledError) with the partial result.
 */
export async function extractFeatures(db: Db, opts: ExtractOptions): Promise<ExtractResult> {
  const t0 = performance.now()
  const log = opts.log ?? ((m: string) => console.warn(m))
  const row = opts.loaded ? undefined : getBackbone(db, opts.backbone)
  const backboneId = opts.loaded?.id ?? row?.id
  if (backboneId === undefined) throw new Error(`no backbone '${opts.backbone}' in this project`)
  // The model is loaded only when there is something to compute: a rerun over a finished project
  // should not pay for hashing and loading a large model.
  let bb: LoadedBackbone | undefined = opts.loaded
  try {
    const idFilter = opts.sampleIds ? new Set(opts.sampleIds) : undefined
    const rows = imageSamplesForExtraction(db, backboneId)
    let reused = 0
    const byHash = new Map<string, Job>()
    for (const r of rows) {
      if (idFilter && !idFilter.has(r.id)) continue
      if (r.have) {
        reused++
        continue
      }
      const abs = join(r.root, r.path)
      const job = byHash.get(r.hash)
      if (job) job.paths.push(abs)
      else byHash.set(r.hash, { hash: r.hash, paths: [abs] })
    }
    const jobs = [...byHash.values()]
    const totalSamples = jobs.reduce((a, j) => a + j.paths.length, 0)
    const failed: ExtractFailure[] = []
    let computed = 0
    let doneSamples = 0
    let executionProvider = bb?.executionProvider ?? 'none'
    let name = bb?.name ?? row?.name ?? String(backboneId)
    const result = (): ExtractResult => ({
      backboneId,
      computed,
      reused,
      failed,
      seconds: (performance.now() - t0) / 1000,
      executionProvider,
    })
    const report = (): void => {
      const dt = (performance.now() - t0) / 1000
      const rate = dt > 0 ? doneSamples / dt : undefined
      opts.progress?.({
        phase: 'extract',
        done: doneSamples,
        total: totalSamples,
        rate,
        etaSeconds: rate && rate > 0 ? (totalSamples - doneSamples) / rate : undefined,
        message: `${name}: ${computed} computed, ${failed.length} failed`,
      })
    }
    report()
    if (jobs.length === 0) return result()
    if (!bb)
      bb = await loadBackbone(db, backboneId, { executionProvider: opts.executionProvider, log, ...(opts.remote ? { remote: opts.remote } : {}) })
    const model = bb
    executionProvider = model.executionProvider
    name = model.name
    let batchSize = Math.max(1, Math.floor(opts.batchSize ?? 32))
    if (model.fixedBatch) batchSize = Math.max(model.fixedBatch, Math.floor(batchSize / model.fixedBatch) * model.fixedBatch)

    const writer = featureWriter(db, model.id)
    const store = db.transaction((hashes: string[], feats: Float32Array) => {
      for (let i = 0; i < hashes.length; i++) writer.insert(hashes[i]!, feats.subarray(i * model.dim, (i + 1) * model.dim))
    })

    const prepare = async (slice: Job[]): Promise<Prepared> => {
      const batch = new Float32Array(slice.length * model.inputSize)
      const ok: boolean[] = await Promise.all(
        slice.map(async (job, i) => {
          const file = job.paths[0]!
          try {
            const bytes = await readFile(file).catch((e: NodeJS.ErrnoException) => {
              throw new Error(
                `${file}: ${e.code === 'ENOENT' ? 'file not found (moved or deleted since import)' : `cannot read (${e.code ?? e.message})`}`,
              )
            })
            // The hash is the feature's key: a file edited since import must not store its new
            // content's features under the old hash.
            if (createHash('sha256').update(bytes).digest('hex') !== job.hash) {
              throw new Error(`${file}: file changed since import (content hash differs); import it again`)
            }
            const px = await decodeImagePixels(bytes, model.spec, opts.decode).catch((e: Error) => {
              throw new Error(e.message.replace(/^<buffer>/, file))
            })
            pixelsToTensor(px, model.spec, batch, i * model.inputSize)
            return true
          } catch (e) {
            const msg = (e as Error).message
            const reason = msg.startsWith(`${file}: `) ? msg.slice(file.length + 2) : msg
            for (const p of job.paths) failed.push({ path: p, reason })
            return false
          }
        }),
      )
      const good = slice.filter((_, i) => ok[i])
      if (good.length === slice.length) return { batch, jobs: good }
      // Compact the batch so that only decoded images are run.
      const packed = new Float32Array(good.length * model.inputSize)
      let o = 0
      slice.forEach((_, i) => {
        if (!ok[i]) return
        packed.set(batch.subarray(i * model.inputSize, (i + 1) * model.inputSize), o * model.inputSize)
        o++
      })
      return { batch: packed, jobs: good }
    }

    const slices: Job[][] = []
    for (let s = 0; s < jobs.length; s += batchSize) slices.push(jobs.slice(s, s + batchSize))
    const inFlight = Math.max(1, Math.floor(model.concurrency ?? 1))
    const running = new Set<Promise<void>>()
    let failure: { error: unknown } | undefined
    // Runs and stores one batch; never rejects (the first failure is kept and stops the loop).
    const launch = (cur: Prepared, slice: Job[]): void => {
      const task = (async () => {
        try {
          if (cur.jobs.length > 0) {
            const feats = await model.embed(cur.batch, cur.jobs.length)
            store(
              cur.jobs.map((j) => j.hash),
              feats,
            )
            computed += cur.jobs.length
          }
          doneSamples += slice.reduce((a, j) => a + j.paths.length, 0)
          report()
        } catch (e) {
          failure ??= { error: e }
        }
      })()
      running.add(task)
      void task.then(() => running.delete(task))
    }
    let next: Promise<Prepared> | undefined = prepare(slices[0]!)
    for (let b = 0; b < slices.length && !failure; b++) {
      const cur = await next!
      // Start decoding the next batch before this one goes into inference.
      next = b + 1 < slices.length && !opts.signal?.aborted ? prepare(slices[b + 1]!) : undefined
      while (running.size >= inFlight) await Promise.race(running)
      if (failure || opts.signal?.aborted) break
      launch(cur, slices[b]!)
    }
    // Every batch in flight is stored (or failed) before returning; an in-flight decode settles so
    // its errors are not unhandled, and its work is dropped.
    await Promise.all(running)
    await next?.catch(() => undefined)
    if (failure) throw failure.error
    if (opts.signal?.aborted) throw new ExtractCancelledError(result())
    return result()
  } finally {
    if (bb && !opts.loaded) await bb.release()
  }
}
