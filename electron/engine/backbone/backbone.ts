/**
 * Backbones: any ONNX image model run through onnxruntime-node. A model is inspected once
 * (input/output names, types and shapes from the session's metadata, plus one trial run), refused
 * with a reason when it is not an image-to-vector model, and registered in the project's
 * `backbones` table with its sha256 and the preprocessing it needs. Features are keyed by
 * backbone id, so the model file is re-hashed on load: a changed file must not silently mix
 * features from two different models.
 */
import { existsSync, statSync } from 'node:fs'
import { basename, extname, join, resolve } from 'node:path'
import { homedir } from 'node:os'
import * as ort from 'onnxruntime-node'
import type { Db } from '../store/db.ts'
import { allBackbones, backboneById, backboneByName, insertModelBackbone, type StoredBackbone } from '../store/backbones.ts'
import { sha256File } from '../util/hash.ts'
import type { Progress } from '../jobs/progress.ts'
import { BUILTIN_NAME, builtinModelFile, builtinPreprocess, ensureBuiltinModel } from './builtin.ts'
import { catalogue, downloadCatalogueModel } from './catalogue.ts'
import { DEFAULT_INPUT_SIZE, imagenetSpec, inputSize, parsePreprocess, type Layout, type PreprocessSpec } from './preprocess.ts'
import type { RemoteOptions } from './remote.ts'
import { channelAxis, modelWithOutput, poolingFor, prepareFeatureModel, type FeatureLayerRequest, type FeaturePool } from './feature-layer.ts'

export type BackboneKind = 'builtin' | 'catalogue' | 'file' | 'remote'
export type ExecutionProviderName = 'cpu' | 'cuda' | 'dml' | 'coreml' | 'webgpu'

/** What inspecting an ONNX file found out. */
export interface ModelInfo {
  inputName: string
  /** As the model declares it; symbolic dims are strings. */
  inputShape: (number | string)[]
  layout: Layout
  channels: 1 | 3
  /** Spatial size: the model's, or DEFAULT_INPUT_SIZE where the model leaves it dynamic. */
  width: number
  height: number
  /** Fixed batch size the model demands, or null when the batch axis is dynamic. */
  fixedBatch: number | null
  outputName: string
  outputShape: (number | string)[]
  /** 4-D outputs are averaged over their spatial axes (global average pooling). */
  pooled: boolean
  dim: number
  /** How `outputName` was chosen (backbone/feature-layer.ts): 'penultimate', 'output' or the tensor's name. */
  featureLayer: FeatureLayerRequest
  /** How the output becomes a vector: as it is, global average pooling, or the first (class) token. */
  pool: FeaturePool
}

export interface BackboneRow {
  id: number
  name: string
  kind: BackboneKind | 'embeddings'
  modelPath: string | null
  modelSha256: string | null
  inputName: string | null
  inputShape: (number | string)[] | null
  outputName: string | null
  dim: number
  preprocess: PreprocessSpec | null
  createdAt: string
  /** How outputName was chosen ('penultimate', 'output' or a tensor name); null for rows from before schema v5 and embeddings. */
  featureLayer: string | null
  /** 'none' | 'gap' | 'cls'; null: by the output's rank (rank 2 as is, rank 4 pooled). */
  featurePool: FeaturePool | null
}

/** Sink for the one-line notices a backbone load can produce (EP fallback). */
export type Logger = (message: string) => void

function fail(file: string, why: string): never {
  throw new Error(`${file}: not usable as an image backbone: ${why}`)
}

/**
 * What inspection reads of a session: its metadata and one trial run. A remote model
 * (backbone/remote.ts) provides the same over the KServe v2 protocol, so one set of rules applies.
 */
export type InspectableSession = Pick<ort.InferenceSession, 'inputNames' | 'inputMetadata' | 'outputMetadata' | 'run'>

/**
 * Reads an ONNX file's inputs and outputs and checks that it maps an image to a vector: exactly
 * one input, a 4-D float32 tensor with 1 or 3 channels (NCHW or NHWC, inferred from where the
 * 1 or 3 is); the first output of rank 2 (N x D) or rank 4 (pooled to N x D). One trial run on a
 * blank image settles dynamic output sizes and proves the graph runs on this runtime.
 */
export async function inspectModel(
  file: string,
  opts: { session?: InspectableSession; featureLayer?: FeatureLayerRequest } = {},
): Promise<ModelInfo> {
  let session = opts.session
  // The feature tensor (backbone/feature-layer.ts): a file's graph is read and, where the tensor is
  // not an output yet, edited in memory; a session handed in is inspected on its first output.
  let feature: { candidates: string[]; layer: FeatureLayerRequest } = { candidates: [], layer: 'output' }
  if (!session) {
    if (!existsSync(file)) throw new Error(`${file}: model file not found`)
    let bytes: Uint8Array | null = null
    try {
      const fm = prepareFeatureModel(file, opts.featureLayer)
      feature = fm
      bytes = fm.bytes
    } catch (e) {
      // A file that is not readable as ONNX is left to onnxruntime, whose message says why, unless a layer was asked for.
      if (opts.featureLayer !== undefined || /no classifier head|has no tensor|external data|no outputs/.test((e as Error).message)) throw e
    }
    try {
      session = await (bytes
        ? ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all' })
        : ort.InferenceSession.create(file, { graphOptimizationLevel: 'all' }))
    } catch (e) {
      throw new Error(`${file}: onnxruntime cannot load this model (${(e as Error).message.split('\n')[0]})`)
    }
  }
  try {
    return await inspectSession(file, session, feature)
  } finally {
    if (!opts.session) await (session as ort.InferenceSession).release()
  }
}

async function inspectSession(
  file: string,
  session: InspectableSession,
  feature: { candidates: string[]; layer: FeatureLayerRequest },
): Promise<ModelInfo> {
  const inputs = session.inputMetadata
  if (inputs.length !== 1) {
    fail(file, `it takes ${inputs.length} inputs (${session.inputNames.join(', ')}); an image backbone takes exactly one image tensor`)
  }
  const inp = inputs[0]!
  if (!inp.isTensor) fail(file, `input '${inp.name}' is not a tensor`)
  if (inp.type !== 'float32') fail(file, `input '${inp.name}' is ${inp.type}; an image backbone takes float32 pixels`)
  const shape = [...inp.shape]
  if (shape.length !== 4) {
    fail(
      file,
      `input '${inp.name}' has shape [${shape.join(', ')}] (rank ${shape.length}); an image backbone takes a 4-D tensor N x C x H x W or N x H x W x C`,
    )
  }
  const isCh = (d: number | string | undefined): d is 1 | 3 => d === 1 || d === 3
  let layout: Layout
  if (isCh(shape[1])) layout = 'nchw'
  else if (isCh(shape[3])) layout = 'nhwc'
  else if (typeof shape[1] === 'string' && typeof shape[3] === 'string')
    layout = 'nchw' // fully dynamic: the common case
  else {
    fail(file, `input '${inp.name}' has shape [${shape.join(', ')}]: neither axis 1 nor axis 3 is 1 or 3 channels, so it is not an image input`)
  }
  const chDim = layout === 'nchw' ? shape[1] : shape[3]
  const channels: 1 | 3 = isCh(chDim) ? chDim : 3
  const spatial = layout === 'nchw' ? [shape[2], shape[3]] : [shape[1], shape[2]]
  const size = (d: number | string | undefined): number => (typeof d === 'number' && d > 0 ? d : DEFAULT_INPUT_SIZE)
  const height = size(spatial[0])
  const width = size(spatial[1])
  const fixedBatch = typeof shape[0] === 'number' && shape[0] > 0 ? shape[0] : null

  const wanted = feature.candidates.length > 0 ? feature.candidates : [session.outputMetadata[0]?.name ?? '']
  const candidates = wanted.map((n) => session.outputMetadata.find((m) => m.name === n))
  const out = candidates[0]
  if (!out) fail(file, 'it has no outputs')
  // A named tensor may be a transformer's token sequence (N x T x D: its class token is taken).
  const named = feature.layer !== 'output' && feature.layer !== 'penultimate'
  if (!out.isTensor) fail(file, `output '${out.name}' is not a tensor`)
  if (out.type !== 'float32') fail(file, `output '${out.name}' is ${out.type}; features must be float32`)
  const oshape = [...out.shape]
  if (oshape.length > 0 && oshape.length !== 2 && oshape.length !== 4 && !(named && oshape.length === 3) && candidates.length === 1) {
    fail(
      file,
      `output '${out.name}' has rank ${oshape.length} ([${oshape.join(', ')}]); a feature vector needs rank 2 (N x D) or rank 4 (N x C x H x W, globally average-pooled)`,
    )
  }

  // Trial run: one blank image (or the fixed batch).
  const b = fixedBatch ?? 1
  const dims = layout === 'nchw' ? [b, channels, height, width] : [b, height, width, channels]
  let result: ort.InferenceSession.ReturnType
  const fetch = wanted.filter((_, i) => candidates[i])
  try {
    result = await session.run({ [inp.name]: new ort.Tensor('float32', new Float32Array(b * channels * height * width), dims) }, fetch)
  } catch (e) {
    throw new Error(`${file}: the model failed a trial run on a ${dims.join('x')} input (${(e as Error).message.split('\n')[0]})`)
  }
  // The first candidate whose rank makes a vector (penultimate: the tensor before flattening if it
  // is N x C x H x W or N x D, else the classifier's own input).
  let chosen: { name: string; od: readonly number[]; pool: FeaturePool; dim: number } | undefined
  for (const name of fetch) {
    const od = (result[name] as ort.Tensor).dims
    const p = poolingFor(od, layout)
    if (p && (p.pool !== 'cls' || named)) {
      chosen = { name, od, ...p }
      break
    }
  }
  if (!chosen) {
    const od = (result[out.name] as ort.Tensor).dims
    fail(
      file,
      `output '${out.name}' has rank ${od.length} ([${od.join(', ')}]); a feature vector needs rank 2 (N x D) or rank 4 (N x C x H x W, globally average-pooled)`,
    )
  }
  const { od, dim } = chosen
  if (od[0] !== b) fail(file, `output '${chosen.name}' has ${od[0]} rows for a batch of ${b}; the first axis must be the batch`)
  if (!(dim > 0)) fail(file, `output '${chosen.name}' has an empty feature axis`)
  const meta = session.outputMetadata.find((m) => m.name === chosen.name)
  if (meta && meta.isTensor && meta.type !== 'float32') fail(file, `output '${chosen.name}' is ${meta.type}; features must be float32`)
  return {
    inputName: inp.name,
    inputShape: shape,
    layout,
    channels,
    width,
    height,
    fixedBatch,
    outputName: chosen.name,
    outputShape: meta?.isTensor ? [...meta.shape] : [...od],
    pooled: chosen.pool === 'gap',
    dim,
    featureLayer: feature.layer,
    pool: chosen.pool,
  }
}

/** The default preprocessing for an inspected model: ImageNet statistics for 3 channels, 0..1 for gray. */
export function defaultPreprocess(info: ModelInfo): PreprocessSpec {
  if (info.channels === 3) return { ...imagenetSpec(info.width, info.layout), height: info.height, width: info.width }
  return {
    width: info.width,
    height: info.height,
    resize: 'shorter-side-then-center-crop',
    cropFraction: 0.875,
    channels: 1,
    channelOrder: 'rgb',
    scale: 1 / 255,
    mean: [0],
    std: [1],
    layout: info.layout,
  }
}

function rowFromDb(r: StoredBackbone): BackboneRow {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    modelPath: r.model_path ?? null,
    modelSha256: r.model_sha256 ?? null,
    inputName: r.input_name ?? null,
    inputShape: r.input_shape ? (JSON.parse(r.input_shape) as (number | string)[]) : null,
    outputName: r.output_name ?? null,
    dim: r.dim,
    preprocess: r.preprocess ? parsePreprocess(r.preprocess, `backbone '${r.name}'`) : null,
    createdAt: r.created_at,
    featureLayer: r.feature_layer ?? null,
    featurePool: r.feature_pool === 'none' || r.feature_pool === 'gap' || r.feature_pool === 'cls' ? r.feature_pool : null,
  }
}

/** All backbones registered in a project, by id. */
export function listBackbones(db: Db): BackboneRow[] {
  return allBackbones(db).map(rowFromDb)
}

/** One backbone by name or id (a string of digits that is no backbone's name is taken as an id), or undefined. */
export function getBackbone(db: Db, nameOrId: string | number): BackboneRow | undefined {
  const r = typeof nameOrId === 'number' ? backboneById(db, nameOrId) : backboneByName(db, nameOrId)
  if (!r && typeof nameOrId === 'string' && /^\d+$/.test(nameOrId)) return getBackbone(db, Number(nameOrId))
  return r ? rowFromDb(r) : undefined
}

export interface RegisterOptions {
  name: string
  kind: BackboneKind
  modelPath: string
  /** Preprocessing; default: from the model's input (ImageNet statistics for colour models). */
  preprocess?: PreprocessSpec
  /** The feature tensor (backbone/feature-layer.ts); default: the penultimate layer where the model has a classifier head, else its output. */
  featureLayer?: FeatureLayerRequest
  /** The feature dimension the caller expects (a catalogue entry's); a model giving another is refused. */
  expectDim?: number
}

/**
 * Inspects a model and records it in the `backbones` table; returns the row. Registering the same
 * name with the same file content again returns the existing row; the same name with different
 * content is refused (features stored under that name would no longer match the model).
 */
export async function registerBackbone(db: Db, opts: RegisterOptions): Promise<BackboneRow> {
  const modelPath = resolve(opts.modelPath)
  if (!existsSync(modelPath) || !statSync(modelPath).isFile()) throw new Error(`${modelPath}: model file not found`)
  const sha = await sha256File(modelPath)
  const existing = getBackbone(db, opts.name)
  if (existing) {
    if (existing.modelSha256 === sha && sameFeatureLayer(existing, opts.featureLayer)) return existing
    if (existing.modelSha256 === sha) {
      throw new Error(
        `backbone '${opts.name}' is already registered with feature layer '${existing.featureLayer ?? existing.outputName}'; register '${opts.featureLayer}' under another name`,
      )
    }
    throw new Error(
      `backbone '${opts.name}' is already registered with a different model file (sha256 ${existing.modelSha256?.slice(0, 12) ?? 'none'}…, this one ${sha.slice(0, 12)}…); register it under another name`,
    )
  }
  const info = await inspectModel(modelPath, opts.featureLayer !== undefined ? { featureLayer: opts.featureLayer } : {})
  if (opts.expectDim !== undefined && info.dim !== opts.expectDim) {
    throw new Error(
      `backbone '${opts.name}': feature tensor '${info.outputName}' gives ${info.dim} values per image, expected ${opts.expectDim} (a different model file?)`,
    )
  }
  const spec = opts.preprocess
    ? parsePreprocess(opts.preprocess, `backbone '${opts.name}'`)
    : opts.kind === 'builtin'
      ? builtinPreprocess()
      : defaultPreprocess(info)
  if (spec.channels !== info.channels || spec.layout !== info.layout) {
    throw new Error(
      `backbone '${opts.name}': preprocessing gives ${spec.channels} channel(s) ${spec.layout.toUpperCase()}, the model takes ${info.channels} ${info.layout.toUpperCase()}`,
    )
  }
  const fixedHW = (d: number | string | undefined): boolean => typeof d === 'number' && d > 0
  const [hIdx, wIdx] = info.layout === 'nchw' ? [2, 3] : [1, 2]
  if ((fixedHW(info.inputShape[hIdx]) && spec.height !== info.height) || (fixedHW(info.inputShape[wIdx]) && spec.width !== info.width)) {
    throw new Error(`backbone '${opts.name}': preprocessing gives ${spec.width}x${spec.height}, the model takes ${info.width}x${info.height}`)
  }
  const id = insertModelBackbone(db, {
    name: opts.name,
    kind: opts.kind,
    modelPath,
    sha256: sha,
    inputName: info.inputName,
    inputShape: info.inputShape,
    outputName: info.outputName,
    dim: info.dim,
    preprocess: spec,
    featureLayer: info.featureLayer,
    featurePool: info.pool,
  })
  return getBackbone(db, id)!
}

/** Whether a registered backbone already gives the requested feature layer (unset: whatever it gives). */
export function sameFeatureLayer(row: BackboneRow, request: FeatureLayerRequest | undefined): boolean {
  if (request === undefined) return true
  return row.featureLayer === request || row.outputName === request || (request === 'output' && row.featureLayer === null)
}

/** Execution providers this onnxruntime-node build lists (always includes 'cpu'). */
export function availableExecutionProviders(): string[] {
  try {
    // Only the providers a session can be asked for (EP_ALIASES): the runtime also lists ones, such
    // as tensorrt, that this app does not configure.
    return ort
      .listSupportedBackends()
      .map((b) => b.name)
      .filter((name) => EP_ALIASES[name] !== undefined)
  } catch {
    return ['cpu']
  }
}

// 'webgpu' is bundled with onnxruntime-node 1.30 (Dawn: Vulkan on Linux, D3D12 on Windows, Metal on
// macOS); 'cuda' needs the CUDA provider libraries that onnxruntime-node's installer downloads.
const EP_ALIASES: Record<string, string> = { cpu: 'cpu', cuda: 'cuda', dml: 'dml', directml: 'dml', coreml: 'coreml', webgpu: 'webgpu' }

export interface SessionOptions {
  executionProvider?: string
  /** Threads for one operator (default: onnxruntime's choice, the number of cores). */
  intraOpThreads?: number
  log?: Logger
}

/**
 * Creates a session on the requested execution provider, falling back to CPU with a logged
 * reason when the provider is not in this runtime or fails to initialise. Returns the provider
 * actually used.
 */
export async function createSession(
  model: string | Uint8Array,
  opts: SessionOptions = {},
): Promise<{ session: ort.InferenceSession; executionProvider: string }> {
  const log = opts.log ?? ((m: string) => console.warn(m))
  const requested = (opts.executionProvider ?? 'cpu').toLowerCase()
  const ep = EP_ALIASES[requested]
  if (!ep) throw new Error(`unknown execution provider '${opts.executionProvider}' (choose cpu, cuda, dml, coreml or webgpu)`)
  const base: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all' }
  if (opts.intraOpThreads) base.intraOpNumThreads = opts.intraOpThreads
  // A provider that fails to load makes onnxruntime print its own error line; the fallback
  // message below says it better, so the attempt runs with onnxruntime's logging at 'fatal'.
  const create = (providers: string[], quiet = false): Promise<ort.InferenceSession> => {
    const o: ort.InferenceSession.SessionOptions = { ...base, executionProviders: providers, ...(quiet ? { logSeverityLevel: 4 as const } : {}) }
    return typeof model === 'string' ? ort.InferenceSession.create(model, o) : ort.InferenceSession.create(model, o)
  }
  if (ep !== 'cpu') {
    const available = availableExecutionProviders()
    if (!available.includes(ep)) {
      log(`execution provider '${ep}' is not available in this onnxruntime-node build (it has: ${available.join(', ')}); using cpu`)
    } else {
      try {
        return { session: await create([ep], true), executionProvider: ep }
      } catch (e) {
        log(`execution provider '${ep}' failed to start (${(e as Error).message.split('\n')[0]}); using cpu`)
      }
    }
  }
  return { session: await create(['cpu']), executionProvider: 'cpu' }
}

/** A backbone ready to embed batches of preprocessed images. */
export interface LoadedBackbone {
  id: number
  name: string
  dim: number
  spec: PreprocessSpec
  /** Floats per image in the input tensor. */
  inputSize: number
  /** The onnxruntime session; null for a remote backbone. */
  session: ort.InferenceSession | null
  executionProvider: string
  /** Fixed batch size of the model, or null when any batch size works. */
  fixedBatch: number | null
  /** Batches the caller may have in `embed` at once (a remote backbone's request pool; 1 when absent). */
  concurrency?: number
  /**
   * Runs `count` images laid out back to back in `batch` (count x inputSize) and returns their
   * features, count x dim row-major (4-D outputs averaged over their spatial axes).
   */
  embed(batch: Float32Array, count: number): Promise<Float32Array>
  release(): Promise<void>
}

export interface LoadOptions extends SessionOptions {
  /** Skip re-hashing the model file (tests, or a caller that just registered it). */
  trustFile?: boolean
  /** Token, pool size and retries for a remote backbone (backbone/remote.ts). */
  remote?: RemoteOptions
}

/**
 * Opens a registered backbone for inference. Re-checks the model file's sha256 against the
 * registered one (features are keyed by backbone, so a swapped file must not go unnoticed).
 */
export async function loadBackbone(db: Db, nameOrId: string | number, opts: LoadOptions = {}): Promise<LoadedBackbone> {
  const row = getBackbone(db, nameOrId)
  if (!row)
    throw new Error(
      `no backbone '${nameOrId}' in this project (have: ${
        listBackbones(db)
          .map((b) => b.name)
          .join(', ') || 'none'
      })`,
    )
  if (row.kind === 'remote') {
    const { loadRemoteBackbone } = await import('./remote.ts')
    return loadRemoteBackbone(row, opts.remote, opts.log)
  }
  if (row.kind === 'embeddings' || !row.modelPath || !row.preprocess || !row.inputName || !row.outputName) {
    throw new Error(`backbone '${row.name}' holds imported embeddings; it has no model to run`)
  }
  let modelPath = row.modelPath
  if (row.kind === 'builtin' && basename(modelPath) === basename(builtinModelFile())) {
    // The built-in lives with the app, not the project: resolve it where this install keeps it
    // (regenerated byte for byte if missing), so a project opened by another install still works.
    modelPath = ensureBuiltinModel()
  }
  if (!existsSync(modelPath)) {
    const hint =
      row.kind === 'builtin'
        ? ' (it was made by another version of the built-in backbone; its stored features still train, but new images need that model file back)'
        : ''
    throw new Error(`backbone '${row.name}': model file ${modelPath} not found${hint}`)
  }
  if (!opts.trustFile) {
    const sha = await sha256File(modelPath)
    if (sha !== row.modelSha256) {
      throw new Error(
        `backbone '${row.name}': model file ${modelPath} has changed since it was registered (sha256 differs); register it again under a new name`,
      )
    }
  }
  // A feature tensor inside the graph (schema v5 rows) is made an output in memory; the file stays as it is.
  const edited = row.featureLayer !== null ? modelWithOutput(modelPath, row.outputName) : null
  const { session, executionProvider } = await createSession(edited ?? modelPath, opts)
  const pool = row.featurePool ?? undefined
  const spec = row.preprocess
  const inputName = row.inputName
  const outputName = row.outputName
  const shape0 = row.inputShape?.[0]
  const fixedBatch = typeof shape0 === 'number' && shape0 > 0 ? shape0 : null
  const per = inputSize(spec)
  const dim = row.dim
  const dimsFor = (n: number): number[] =>
    spec.layout === 'nchw' ? [n, spec.channels, spec.height, spec.width] : [n, spec.height, spec.width, spec.channels]

  async function runOnce(data: Float32Array, n: number): Promise<ort.Tensor> {
    const res = await session.run({ [inputName]: new ort.Tensor('float32', data, dimsFor(n)) }, [outputName])
    return res[outputName] as ort.Tensor
  }

  async function embed(batch: Float32Array, count: number): Promise<Float32Array> {
    if (batch.length < count * per) throw new Error(`embed: batch holds ${batch.length} floats, ${count} images need ${count * per}`)
    const out = new Float32Array(count * dim)
    const step = fixedBatch ?? count
    for (let start = 0; start < count; start += step) {
      const n = Math.min(step, count - start)
      let data = batch.subarray(start * per, (start + n) * per)
      if (fixedBatch && n < fixedBatch) {
        // A model with a fixed batch axis gets a zero-padded batch; the padding rows are dropped.
        const padded = new Float32Array(fixedBatch * per)
        padded.set(data)
        data = padded
      }
      const t = await runOnce(data, fixedBatch ?? n)
      poolInto(t, spec.layout, n, dim, out, start * dim, row!.name, pool)
    }
    return out
  }

  return {
    id: row.id,
    name: row.name,
    dim,
    spec,
    inputSize: per,
    session,
    executionProvider,
    fixedBatch,
    embed,
    release: () => session.release(),
  }
}

/**
 * Copies the first `n` rows of an output tensor into `out` as n x dim vectors. Rank 2 is copied;
 * rank 4 is globally average-pooled over its spatial axes (axes 2,3 for NCHW, 1,2 for NHWC; the
 * output is assumed to follow the input's layout, as convolutional backbones do).
 */
export function poolInto(
  t: ort.Tensor,
  layout: Layout,
  n: number,
  dim: number,
  out: Float32Array,
  offset: number,
  name = 'model',
  pool?: FeaturePool,
): void {
  const src = t.data as Float32Array
  const d = t.dims
  if (d.length === 3 && pool === 'cls') {
    // N x T x D: the first token (a transformer's class token).
    const [, tokens, width] = d as [number, number, number]
    if (width !== dim) throw new Error(`backbone '${name}': output has ${width} values per token, registered dim is ${dim}`)
    for (let i = 0; i < n; i++) out.set(src.subarray(i * tokens * width, i * tokens * width + dim), offset + i * dim)
    return
  }
  // A 4-D feature tensor's channel axis may differ from the input layout (a converted NHWC model's pooled N x C x 1 x 1).
  if (d.length === 4 && pool === 'gap') layout = channelAxis(d, layout, dim) === 1 ? 'nchw' : 'nhwc'
  if (d.length === 2) {
    if (d[1] !== dim) throw new Error(`backbone '${name}': output has ${d[1]} values per image, registered dim is ${dim}`)
    out.set(src.subarray(0, n * dim), offset)
    return
  }
  if (d.length !== 4) throw new Error(`backbone '${name}': output rank ${d.length} cannot be made a vector`)
  if (layout === 'nchw') {
    const [, c, h, w] = d as [number, number, number, number]
    if (c !== dim) throw new Error(`backbone '${name}': output has ${c} channels, registered dim is ${dim}`)
    const hw = h * w
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < c; k++) {
        const base = (i * c + k) * hw
        let s = 0
        for (let p = 0; p < hw; p++) s += src[base + p]!
        out[offset + i * dim + k] = s / hw
      }
    }
  } else {
    const [, h, w, c] = d as [number, number, number, number]
    if (c !== dim) throw new Error(`backbone '${name}': output has ${c} channels, registered dim is ${dim}`)
    const hw = h * w
    const acc = new Float64Array(c)
    for (let i = 0; i < n; i++) {
      acc.fill(0)
      for (let p = 0; p < hw; p++) {
        const base = (i * hw + p) * c
        for (let k = 0; k < c; k++) acc[k] = acc[k]! + src[base + k]!
      }
      for (let k = 0; k < c; k++) out[offset + i * dim + k] = acc[k]! / hw
    }
  }
}

/** Where downloaded catalogue models go: $QC_MODELS_DIR, else ~/.seed-qc/models. */
export function modelsDir(): string {
  return process.env.QC_MODELS_DIR ? resolve(process.env.QC_MODELS_DIR) : join(homedir(), '.seed-qc', 'models')
}

export interface EnsureOptions {
  /** Folder for downloaded catalogue models (default `modelsDir()`). */
  modelsDir?: string
  /** Preprocessing for a user's own .onnx file (default: derived from the model's input). */
  preprocess?: PreprocessSpec
  progress?: Progress
  signal?: AbortSignal
  /**
   * The feature tensor (backbone/feature-layer.ts): 'penultimate', 'output' or a tensor name. Default:
   * a catalogue entry's own, else the penultimate layer where the model has a classifier head.
   */
  featureLayer?: FeatureLayerRequest
  /** Token and retries for a remote backbone's metadata and trial requests. */
  remote?: RemoteOptions
}

/**
 * Resolves what a user names as a backbone and makes sure it is registered, returning its row:
 * 'builtin' (the shipped filter bank, written to resources/backbones on first use); a catalogue
 * id (downloaded into the models folder when missing); a path to an .onnx file ("my own model",
 * registered under its file name, or name-sha prefix when that name is taken by other content);
 * or the name or numeric id of a backbone already registered in the project; or the URL of a model
 * on a KServe v2 inference server (backbone/remote.ts).
 */
export async function ensureBackbone(db: Db, what: string, opts: EnsureOptions = {}): Promise<BackboneRow> {
  if (/^https?:\/\//i.test(what)) {
    const { ensureRemoteBackbone } = await import('./remote.ts')
    return ensureRemoteBackbone(db, what, opts.remote)
  }
  if (what === BUILTIN_NAME) {
    const existing = getBackbone(db, BUILTIN_NAME)
    if (existing) return existing
    return registerBackbone(db, {
      name: BUILTIN_NAME,
      kind: 'builtin',
      modelPath: ensureBuiltinModel(),
      preprocess: builtinPreprocess(),
      featureLayer: 'output',
    })
  }
  const layer = opts.featureLayer
  const registered = getBackbone(db, what)
  if (registered && sameFeatureLayer(registered, layer)) return registered
  const entry = catalogue.find((c) => c.id === what)
  if (entry || registered) {
    // Another feature layer of a registered or catalogue model: its own backbone, named 'model@layer'.
    const sha = registered?.modelSha256
    const same = sha ? listBackbones(db).find((b) => b.modelSha256 === sha && sameFeatureLayer(b, layer)) : undefined
    if (same) return same
    const named = layer !== undefined && (registered || layer !== entry?.featureLayer) ? `${what}@${layer}` : what
    const byName = getBackbone(db, named)
    if (byName) return byName
    if (entry) {
      const file = await downloadCatalogueModel(entry.id, opts.modelsDir ?? modelsDir(), { progress: opts.progress, signal: opts.signal })
      return registerBackbone(db, {
        name: named,
        kind: 'catalogue',
        modelPath: file,
        preprocess: entry.preprocess,
        featureLayer: layer ?? entry.featureLayer,
        ...(layer === undefined || layer === entry.featureLayer ? { expectDim: entry.dim } : {}),
      })
    }
    if (registered && registered.modelPath && registered.kind !== 'embeddings' && registered.kind !== 'remote') {
      return registerBackbone(db, {
        name: named,
        kind: registered.kind,
        modelPath: registered.modelPath,
        ...(registered.preprocess ? { preprocess: registered.preprocess } : {}),
        ...(layer !== undefined ? { featureLayer: layer } : {}),
      })
    }
    throw new Error(`backbone '${what}' has no model file whose feature layer could be chosen`)
  }
  const file = resolve(what)
  if (existsSync(file) && statSync(file).isFile()) {
    const sha = await sha256File(file)
    const same = listBackbones(db).find((b) => b.modelSha256 === sha && sameFeatureLayer(b, layer))
    if (same) return same
    let name = basename(file, extname(file))
    if (layer !== undefined && listBackbones(db).some((b) => b.modelSha256 === sha)) name = `${name}@${layer}`
    if (getBackbone(db, name)) name = `${name}-${sha.slice(0, 8)}`
    return registerBackbone(db, {
      name,
      kind: 'file',
      modelPath: file,
      preprocess: opts.preprocess,
      ...(layer !== undefined ? { featureLayer: layer } : {}),
    })
  }
  throw new Error(
    `unknown backbone '${what}': not 'builtin', not a catalogue id (${catalogue.map((c) => c.id).join(', ')}), not an .onnx file, and not registered in this project`,
  )
}
