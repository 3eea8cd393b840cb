/**
 * Remote backbones: an image model served by an inference server that speaks the KServe v2
 * (Open Inference) protocol over HTTP, as NVIDIA Triton does. The model is named by its URL,
 * `http(s)://HOST:PORT[/prefix]/v2/models/NAME[/versions/V]`.
 *
 * - Inspection: `GET …/v2/models/NAME[/versions/V]` gives the inputs' and outputs' names, datatypes
 *   and shapes; they are handed to backbone.ts's `inspectModel` as a session, so a remote model is
 *   accepted or refused by exactly the rules of a local one (one float32 4-D image input, a rank-2
 *   or rank-4 float32 output), including the trial run on a blank image (one infer request).
 * - Inference: `POST …/infer` with the binary tensor data extension: a JSON header whose length is
 *   the `Inference-Header-Content-Length` header, then the raw little-endian float32 input
 *   (`binary_data_size`), and the output asked for as binary (`binary_data: true`). A server that
 *   answers in JSON (`data` arrays) is read too. 4-D outputs are pooled here, as for local models.
 * - Preprocessing stays on this machine (sharp, extract.ts); the server sees only tensors.
 * - Requests: a bounded pool (`concurrency` in flight; extract.ts keeps as many batches going),
 *   retried with exponential backoff and jitter on 429, 503 and dropped connections (honouring a
 *   Retry-After); anything else fails with the server's own message and the server named.
 * - An optional token goes in a header (`Authorization: Bearer …` by default). It is never stored
 *   in the project, never put in a message, and a URL with credentials in it is refused.
 * - Identity: features are keyed by backbone, so the sha256 of the model's metadata is recorded
 *   and checked on every load; without a pinned version a newly loaded version changes it too.
 */
import { createHash } from 'node:crypto'
import * as ort from 'onnxruntime-node'
import type { Db } from '../store/db.ts'
import { insertModelBackbone, unusedBackboneName } from '../store/backbones.ts'
import { defaultPreprocess, getBackbone, inspectModel, listBackbones, poolInto } from './backbone.ts'
import type { BackboneRow, InspectableSession, LoadedBackbone, Logger } from './backbone.ts'
import { inputSize } from './preprocess.ts'

/** A model on a KServe v2 server, parsed from its URL. */
export interface RemoteModelRef {
  /** The normalised URL (no trailing slash): what the project stores. */
  url: string
  /** scheme://host:port, for messages. */
  server: string
  model: string
  version: string | null
}

/** How to talk to the server. Every field has a default; the token defaults to $QC_BACKBONE_TOKEN. */
export interface RemoteOptions {
  /** Sent on every request; never logged or stored. Default: $QC_BACKBONE_TOKEN. */
  token?: string
  /** Header that carries the token (default $QC_BACKBONE_TOKEN_HEADER, else `Authorization` with `Bearer `). */
  tokenHeader?: string
  /** Requests in flight at once (default 4). */
  concurrency?: number
  /** Retries of one request on 429/503/dropped connection (default 5). */
  retries?: number
  /** First backoff in ms; doubled per retry, with jitter (default 250). */
  retryBaseMs?: number
  /** Per-request timeout in ms (default 120000). */
  timeoutMs?: number
}

/** Parses `http(s)://HOST:PORT[/prefix]/v2/models/NAME[/versions/V]`; throws with the expected form otherwise. */
export function parseRemoteUrl(text: string): RemoteModelRef {
  const form = 'expected http(s)://HOST:PORT/v2/models/NAME or …/v2/models/NAME/versions/V'
  let u: URL
  try {
    u = new URL(text.trim())
  } catch {
    throw new Error(`remote backbone '${text}': not a URL (${form})`)
  }
  const shown = `${u.protocol}//${u.host}${u.pathname}`
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`remote backbone ${shown}: only http and https are supported`)
  if (u.username || u.password) {
    // The URL is stored in the project and shown in the app: a secret must not travel in it.
    throw new Error(`remote backbone ${shown}: credentials in the URL are refused; give a token with --backbone-token or QC_BACKBONE_TOKEN`)
  }
  if (u.search || u.hash) throw new Error(`remote backbone ${shown}: a query or fragment is not part of a model URL (${form})`)
  const m = /^(.*?)\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?\/?$/.exec(u.pathname)
  if (!m) throw new Error(`remote backbone ${shown}: ${form}`)
  const model = decodeURIComponent(m[2]!)
  const version = m[3] !== undefined ? decodeURIComponent(m[3]) : null
  const path = `${m[1]}/v2/models/${encodeURIComponent(model)}${version !== null ? `/versions/${encodeURIComponent(version)}` : ''}`
  return { url: `${u.protocol}//${u.host}${path}`, server: `${u.protocol}//${u.host}`, model, version }
}

/** One tensor as the v2 metadata describes it (`$metadata_tensor`). */
interface MetadataTensor {
  name: string
  datatype: string
  shape: number[]
}

/** The model metadata response (`$metadata_model_response`), as far as it is used. */
interface ModelMetadata {
  name: string
  versions?: string[]
  platform?: string
  inputs: MetadataTensor[]
  outputs: MetadataTensor[]
}

// KServe v2 datatypes -> onnxruntime's type names (what inspectModel's rules and messages use).
const DATATYPES: Record<string, string> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BF16: 'bfloat16',
  BYTES: 'string',
}

/** An HTTP answer with its body read. */
interface Reply {
  status: number
  headers: Headers
  body: Buffer
}

const RETRY_STATUS = new Set([429, 503])
// Node's fetch (undici) reports a dropped or refused connection as a TypeError whose cause has one of these.
const RETRY_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'EAI_AGAIN'])

function causeCode(e: unknown): string | undefined {
  const c = (e as { cause?: { code?: string } }).cause
  return c?.code ?? (e as { code?: string }).code
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * A client for one model on one server: a bounded pool of requests with retries. Every error it
 * throws starts with `remote backbone <server> model '<name>'`.
 */
export class KServeClient {
  readonly ref: RemoteModelRef
  private readonly headers: Record<string, string>
  private readonly limit: number
  private readonly retries: number
  private readonly baseMs: number
  private readonly timeoutMs: number
  private active = 0
  private readonly waiting: (() => void)[] = []

  constructor(ref: RemoteModelRef, opts: RemoteOptions = {}) {
    this.ref = ref
    this.limit = Math.max(1, Math.floor(opts.concurrency ?? 4))
    this.retries = Math.max(0, Math.floor(opts.retries ?? 5))
    this.baseMs = Math.max(0, opts.retryBaseMs ?? 250)
    this.timeoutMs = opts.timeoutMs ?? 120_000
    this.headers = {}
    const token = opts.token ?? process.env.QC_BACKBONE_TOKEN
    if (token) {
      const header = opts.tokenHeader ?? process.env.QC_BACKBONE_TOKEN_HEADER
      if (header) this.headers[header] = token
      else this.headers.authorization = `Bearer ${token}`
    }
  }

  /** Requests in flight at most. */
  get concurrency(): number {
    return this.limit
  }

  /** The prefix of every message about this model. */
  get label(): string {
    return `remote backbone ${this.ref.server} model '${this.ref.model}'${this.ref.version !== null ? ` version ${this.ref.version}` : ''}`
  }

  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r))
    this.active++
    try {
      return await fn()
    } finally {
      this.active--
      this.waiting.shift()?.()
    }
  }

  /** One request through the pool, retried on 429/503 and dropped connections; other statuses are returned. */
  private request(
    path: string,
    init: { method: 'GET' | 'POST'; body?: Buffer; headers?: Record<string, string> },
    retries = this.retries,
  ): Promise<Reply> {
    const url = `${this.ref.url}${path}`
    return this.slot(async () => {
      for (let attempt = 0; ; attempt++) {
        let why: string
        let wait = this.baseMs * 2 ** attempt * (0.5 + Math.random() / 2)
        try {
          const res = await fetch(url, {
            method: init.method,
            headers: { ...this.headers, ...init.headers },
            ...(init.body ? { body: init.body } : {}),
            signal: AbortSignal.timeout(this.timeoutMs),
          })
          const body = Buffer.from(await res.arrayBuffer())
          if (!RETRY_STATUS.has(res.status)) return { status: res.status, headers: res.headers, body }
          why = `HTTP ${res.status}${serverMessage(body)}`
          const after = Number(res.headers.get('retry-after'))
          if (Number.isFinite(after) && after > 0) wait = Math.max(wait, Math.min(after * 1000, 30_000))
        } catch (e) {
          const code = causeCode(e)
          if ((e as Error).name === 'TimeoutError') {
            throw new Error(`${this.label}: no answer within ${Math.round(this.timeoutMs / 1000)} s (${init.method} ${path || '/'})`)
          }
          if (!code || !RETRY_CODES.has(code)) {
            throw new Error(`${this.label}: request failed (${(e as Error).message}${code ? `, ${code}` : ''})`)
          }
          why = code === 'ECONNREFUSED' ? 'connection refused' : `connection lost (${code})`
        }
        if (attempt >= retries) throw new Error(`${this.label}: ${why}, still after ${retries} retries`)
        await sleep(wait)
      }
    })
  }

  private refuse(r: Reply, what: string): never {
    const hint = r.status === 401 || r.status === 403 ? ' (the server wants a token: --backbone-token or QC_BACKBONE_TOKEN)' : ''
    const missing = r.status === 404 ? ' (no such model or version on the server)' : ''
    throw new Error(`${this.label}: ${what} answered HTTP ${r.status}${serverMessage(r.body)}${hint}${missing}`)
  }

  /** `GET /v2/models/NAME[/versions/V]`: the model's inputs and outputs. */
  async metadata(): Promise<ModelMetadata> {
    const r = await this.request('', { method: 'GET' })
    if (r.status !== 200) this.refuse(r, 'the metadata request')
    let m: ModelMetadata
    try {
      m = JSON.parse(r.body.toString('utf8')) as ModelMetadata
    } catch {
      throw new Error(`${this.label}: the metadata is not JSON; is this a KServe v2 endpoint?`)
    }
    const tensors = (x: unknown): x is MetadataTensor[] =>
      Array.isArray(x) &&
      x.every(
        (t: MetadataTensor) =>
          typeof t?.name === 'string' && typeof t.datatype === 'string' && Array.isArray(t.shape) && t.shape.every(Number.isInteger),
      )
    if (!tensors(m.inputs) || !tensors(m.outputs)) {
      throw new Error(`${this.label}: the metadata has no valid 'inputs' and 'outputs' (name, datatype, shape); is this a KServe v2 endpoint?`)
    }
    return m
  }

  /** Triton's `max_batch_size` from `GET …/config` (a Triton extension), or null where the server has none. */
  async maxBatchSize(): Promise<number | null> {
    try {
      const r = await this.request('/config', { method: 'GET' }, 0)
      if (r.status !== 200) return null
      const n = (JSON.parse(r.body.toString('utf8')) as { max_batch_size?: unknown }).max_batch_size
      return typeof n === 'number' && n > 0 ? n : null
    } catch {
      return null
    }
  }

  /**
   * `POST …/infer` of one float32 tensor with the binary extension; returns the named output as a
   * float32 tensor (binary or JSON answer).
   */
  async infer(input: string, data: Float32Array, dims: readonly number[], output: string): Promise<ort.Tensor> {
    const header = Buffer.from(
      JSON.stringify({
        inputs: [{ name: input, shape: dims, datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }],
        outputs: [{ name: output, parameters: { binary_data: true } }],
      }),
    )
    // Binary tensor data is little-endian; so is every platform Node runs this app on.
    const body = Buffer.concat([header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)])
    const r = await this.request('/infer', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    })
    if (r.status !== 200) this.refuse(r, `inference on a ${dims.join('x')} input`)
    return this.readOutput(r, output)
  }

  private readOutput(r: Reply, name: string): ort.Tensor {
    const hlen = r.headers.get('inference-header-content-length')
    const jsonEnd = hlen !== null ? Number(hlen) : r.body.length
    if (!Number.isInteger(jsonEnd) || jsonEnd < 0 || jsonEnd > r.body.length) {
      throw new Error(`${this.label}: bad Inference-Header-Content-Length ${hlen} for a ${r.body.length}-byte answer`)
    }
    let res: { outputs?: { name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size?: number } }[] }
    try {
      res = JSON.parse(r.body.subarray(0, jsonEnd).toString('utf8')) as typeof res
    } catch {
      throw new Error(`${this.label}: the inference answer is not a KServe v2 response`)
    }
    // Binary outputs follow the JSON in the order the outputs are listed.
    let offset = jsonEnd
    for (const o of res.outputs ?? []) {
      const size = o.parameters?.binary_data_size
      if (o.name !== name) {
        if (typeof size === 'number') offset += size
        continue
      }
      if (o.datatype !== 'FP32') throw new Error(`${this.label}: output '${name}' came back as ${o.datatype}; features must be FP32`)
      const count = o.shape.reduce((a, b) => a * b, 1)
      let values: Float32Array
      if (typeof size === 'number') {
        if (size !== count * 4 || offset + size > r.body.length) {
          throw new Error(`${this.label}: output '${name}' has ${size} bytes of binary data for shape [${o.shape.join(', ')}]`)
        }
        values = new Float32Array(count)
        new Uint8Array(values.buffer).set(r.body.subarray(offset, offset + size))
      } else {
        const flat = (o.data ?? []).flat(Infinity) as number[]
        if (flat.length !== count) throw new Error(`${this.label}: output '${name}' has ${flat.length} values for shape [${o.shape.join(', ')}]`)
        values = Float32Array.from(flat)
      }
      return new ort.Tensor('float32', values, o.shape)
    }
    throw new Error(`${this.label}: the inference answer has no output '${name}'`)
  }
}

/** The server's error text (`{"error": "..."}` or plain text), as ': text', or ''. */
function serverMessage(body: Buffer): string {
  const text = body.toString('utf8').trim()
  if (!text) return ''
  try {
    const e = (JSON.parse(text) as { error?: unknown }).error
    if (typeof e === 'string') return `: ${e.slice(0, 300)}`
  } catch {
    // not JSON
  }
  return `: ${text.slice(0, 300)}`
}

/** The metadata as inspectModel reads a session: symbolic (-1) dims become names, datatypes onnxruntime's. */
function asSession(client: KServeClient, meta: ModelMetadata): InspectableSession {
  const value = (t: MetadataTensor): ort.InferenceSession.ValueMetadata => ({
    name: t.name,
    isTensor: true,
    type: (DATATYPES[t.datatype] ?? t.datatype.toLowerCase()) as ort.Tensor.Type,
    shape: t.shape.map((d, i) => (d >= 0 ? d : i === 0 ? 'batch' : `d${i}`)),
  })
  const run = async (feeds: ort.InferenceSession.FeedsType, fetches?: unknown): Promise<ort.InferenceSession.ReturnType> => {
    const [input, tensor] = Object.entries(feeds)[0]!
    const names = Array.isArray(fetches) ? (fetches as string[]) : [meta.outputs[0]!.name]
    const out: Record<string, ort.Tensor> = {}
    for (const n of names) out[n] = await client.infer(input, (tensor as ort.Tensor).data as Float32Array, (tensor as ort.Tensor).dims, n)
    return out as ort.InferenceSession.ReturnType
  }
  return {
    inputNames: meta.inputs.map((t) => t.name),
    inputMetadata: meta.inputs.map(value),
    outputMetadata: meta.outputs.map(value),
    run: run as InspectableSession['run'],
  }
}

/**
 * The sha256 of what identifies the served model: platform, inputs and outputs, and, when the URL
 * pins no version, the versions the server has loaded (a new version must not mix its features
 * with the old one's under one backbone).
 */
function fingerprint(ref: RemoteModelRef, meta: ModelMetadata): string {
  const tensors = (ts: MetadataTensor[]) => ts.map((t) => [t.name, t.datatype, t.shape])
  const id = {
    platform: meta.platform ?? null,
    inputs: tensors(meta.inputs),
    outputs: tensors(meta.outputs),
    versions: ref.version === null ? [...(meta.versions ?? [])].sort() : null,
  }
  return createHash('sha256').update(JSON.stringify(id)).digest('hex')
}

/**
 * Registers the model at `url` (inspected over the protocol, refused by the local rules with the
 * server named) or returns the backbone already registered for that URL. The name is the model's
 * (with `-vV` for a pinned version; `#2`… when a different backbone has it).
 */
export async function ensureRemoteBackbone(db: Db, url: string, opts: RemoteOptions = {}): Promise<BackboneRow> {
  const ref = parseRemoteUrl(url)
  const existing = listBackbones(db).find((b) => b.kind === 'remote' && b.modelPath === ref.url)
  if (existing) return existing
  const client = new KServeClient(ref, opts)
  const meta = await client.metadata()
  const info = await inspectModel(client.label, { session: asSession(client, meta) })
  const spec = defaultPreprocess(info)
  const base = ref.version !== null ? `${ref.model}-v${ref.version}` : ref.model
  const id = insertModelBackbone(db, {
    name: unusedBackboneName(db, base),
    kind: 'remote',
    modelPath: ref.url,
    sha256: fingerprint(ref, meta),
    inputName: info.inputName,
    inputShape: info.inputShape,
    outputName: info.outputName,
    dim: info.dim,
    preprocess: spec,
  })
  return getBackbone(db, id)!
}

/**
 * Opens a registered remote backbone: checks that the server still serves the model it was
 * registered with (metadata fingerprint), then returns the same `embed` as a local backbone.
 * `concurrency` tells the caller how many batches to keep in flight.
 */
export async function loadRemoteBackbone(row: BackboneRow, opts: RemoteOptions = {}, log?: Logger): Promise<LoadedBackbone> {
  if (!row.modelPath || !row.preprocess || !row.inputName || !row.outputName) throw new Error(`backbone '${row.name}' is incomplete`)
  const ref = parseRemoteUrl(row.modelPath)
  const client = new KServeClient(ref, opts)
  const meta = await client.metadata()
  if (fingerprint(ref, meta) !== row.modelSha256) {
    const pin = ref.version === null ? '; pin a version (…/versions/V) to keep one model' : ''
    throw new Error(
      `backbone '${row.name}': ${client.label} no longer serves the model it was registered with (its metadata changed${
        ref.version === null ? ' or another version was loaded' : ''
      }); register the URL again under a new name${pin}`,
    )
  }
  const spec = row.preprocess
  const per = inputSize(spec)
  const dim = row.dim
  const shape0 = row.inputShape?.[0]
  const fixedBatch = typeof shape0 === 'number' && shape0 > 0 ? shape0 : null
  const maxBatch = fixedBatch ?? (await client.maxBatchSize())
  if (maxBatch && !fixedBatch) log?.(`${client.label}: the server takes at most ${maxBatch} images per request`)
  const inputName = row.inputName
  const outputName = row.outputName
  const dimsFor = (n: number): number[] =>
    spec.layout === 'nchw' ? [n, spec.channels, spec.height, spec.width] : [n, spec.height, spec.width, spec.channels]

  async function embed(batch: Float32Array, count: number): Promise<Float32Array> {
    if (batch.length < count * per) throw new Error(`embed: batch holds ${batch.length} floats, ${count} images need ${count * per}`)
    const out = new Float32Array(count * dim)
    const step = maxBatch ?? count
    const chunks: Promise<void>[] = []
    for (let start = 0; start < count; start += step) {
      const n = Math.min(step, count - start)
      let data = batch.subarray(start * per, (start + n) * per)
      if (fixedBatch && n < fixedBatch) {
        const padded = new Float32Array(fixedBatch * per)
        padded.set(data)
        data = padded
      }
      const rows = fixedBatch ?? n
      chunks.push(
        client.infer(inputName, data, dimsFor(rows), outputName).then((t) => {
          if (t.dims[0] !== rows) throw new Error(`${client.label}: ${t.dims[0]} output rows for a batch of ${rows}`)
          poolInto(t, spec.layout, n, dim, out, start * dim, row.name)
        }),
      )
    }
    // Settle every chunk before failing, so no request outlives the batch unobserved.
    const settled = await Promise.allSettled(chunks)
    const bad = settled.find((s) => s.status === 'rejected')
    if (bad) throw bad.reason
    return out
  }

  return {
    id: row.id,
    name: row.name,
    dim,
    spec,
    inputSize: per,
    session: null,
    executionProvider: `remote ${ref.server}`,
    fixedBatch,
    concurrency: client.concurrency,
    embed,
    release: async () => undefined,
  }
}
