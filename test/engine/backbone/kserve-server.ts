/**
 * A small KServe v2 (Open Inference Protocol) server for the tests: node:http on 127.0.0.1 running
 * an ONNX model with onnxruntime-node, as Triton's ONNX backend would. It speaks what the client
 * uses: model metadata, Triton's model config (max_batch_size), and infer with the binary tensor
 * data extension. Hooks for the tests: statuses to answer instead of the next infer requests, a
 * metadata override, a required token, a crash after N answered requests, and counters.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import * as ort from 'onnxruntime-node'

export interface KServeOptions {
  modelFile: string
  name: string
  /** Port to listen on (0: any free one). */
  port?: number
  /** Answer the next infer requests with these statuses (one each) before serving them. */
  failures?: number[]
  /** Replaces parts of the metadata the model gives (wrong shapes or datatypes). */
  metadata?: (m: Metadata) => Metadata
  /** Requests without `authorization: Bearer <token>` get 401. */
  token?: string
  /** Triton's max_batch_size, reported by /config and enforced (400 above it). */
  maxBatch?: number
  /** After this many answered infer requests, the next one kills the server: every socket is destroyed, nothing listens. */
  dieAfter?: number
  /** Milliseconds each infer waits before running (so requests overlap). */
  delayMs?: number
}

export interface Metadata {
  name: string
  versions: string[]
  platform: string
  inputs: { name: string; datatype: string; shape: number[] }[]
  outputs: { name: string; datatype: string; shape: number[] }[]
}

export interface KServeServer {
  /** http://127.0.0.1:PORT */
  origin: string
  port: number
  /** The model URL (…/v2/models/NAME). */
  url: string
  /** Every request: method, path and headers. */
  requests: { method: string; path: string; headers: IncomingMessage['headers'] }[]
  /** Images run through the model (padding rows included). */
  images: number
  /** Infer requests answered 200. */
  answered: number
  /** Most infer requests open at once. */
  maxInFlight: number
  /** Statuses still to answer instead of serving (push to add; see KServeOptions.failures). */
  failures: number[]
  close(): Promise<void>
}

const TYPES: Record<string, string> = { float32: 'FP32', float16: 'FP16', int64: 'INT64', int32: 'INT32', uint8: 'UINT8' }

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

export async function startKServe(opts: KServeOptions): Promise<KServeServer> {
  const session = await ort.InferenceSession.create(opts.modelFile)
  const dims = (shape: readonly (number | string)[]): number[] => shape.map((d) => (typeof d === 'number' ? d : -1))
  const meta = (list: readonly ort.InferenceSession.ValueMetadata[]) =>
    list.map((m) =>
      m.isTensor
        ? { name: m.name, datatype: TYPES[m.type] ?? m.type.toUpperCase(), shape: dims(m.shape) }
        : { name: m.name, datatype: 'BYTES', shape: [] },
    )
  let metadata: Metadata = {
    name: opts.name,
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs: meta(session.inputMetadata),
    outputs: meta(session.outputMetadata),
  }
  if (opts.metadata) metadata = opts.metadata(metadata)
  const sockets = new Set<Socket>()
  let inFlight = 0
  let queue: Promise<unknown> = Promise.resolve()
  const base = `/v2/models/${opts.name}`

  const state: Omit<KServeServer, 'close' | 'origin' | 'port' | 'url'> = {
    requests: [],
    images: 0,
    answered: 0,
    maxInFlight: 0,
    failures: [...(opts.failures ?? [])],
  }
  const failures = state.failures

  async function infer(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    if (failures.length > 0) {
      const status = failures.shift()!
      res.writeHead(status, { 'content-type': 'application/json', ...(status === 429 ? { 'retry-after': '0' } : {}) })
      res.end(JSON.stringify({ error: `busy (${status})` }))
      return
    }
    if (opts.dieAfter !== undefined && state.answered >= opts.dieAfter) {
      // A crash: nothing answers, every open connection drops, nothing listens any more.
      server.close()
      for (const s of sockets) s.destroy()
      return
    }
    const hlen = Number(req.headers['inference-header-content-length'] ?? body.length)
    const head = JSON.parse(body.subarray(0, hlen).toString('utf8')) as {
      inputs: { name: string; shape: number[]; datatype: string; parameters?: { binary_data_size?: number } }[]
      outputs?: { name: string; parameters?: { binary_data?: boolean } }[]
    }
    const input = head.inputs[0]!
    const size = input.parameters?.binary_data_size
    if (input.datatype !== 'FP32' || size === undefined) return reply(res, 400, { error: 'expected one FP32 input as binary data' })
    if (opts.maxBatch !== undefined && input.shape[0]! > opts.maxBatch) {
      return reply(res, 400, { error: `inference request batch-size must be <= ${opts.maxBatch}` })
    }
    const data = new Float32Array(size / 4)
    new Uint8Array(data.buffer).set(body.subarray(hlen, hlen + size))
    inFlight++
    state.maxInFlight = Math.max(state.maxInFlight, inFlight)
    try {
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs))
      const wanted = head.outputs?.map((o) => o.name) ?? [session.outputNames[0]!]
      const run = queue.then(() => session.run({ [input.name]: new ort.Tensor('float32', data, input.shape) }, wanted))
      queue = run.catch(() => undefined)
      const out = await run
      state.images += input.shape[0]!
      const bins: Buffer[] = []
      const outputs = wanted.map((n) => {
        const t = out[n] as ort.Tensor
        const f = t.data as Float32Array
        const bytes = Buffer.from(f.buffer, f.byteOffset, f.byteLength)
        bins.push(bytes)
        return { name: n, datatype: 'FP32', shape: t.dims, parameters: { binary_data_size: bytes.length } }
      })
      const json = Buffer.from(JSON.stringify({ model_name: opts.name, model_version: '1', outputs }))
      state.answered++
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.length) })
      res.end(Buffer.concat([json, ...bins]))
    } finally {
      inFlight--
    }
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!
      state.requests.push({ method: req.method ?? '', path, headers: req.headers })
      if (opts.token !== undefined && req.headers.authorization !== `Bearer ${opts.token}`) return reply(res, 401, { error: 'unauthorized' })
      const tail = path.startsWith(base) ? path.slice(base.length).replace(/^\/versions\/1/, '') : null
      if (tail === null) return reply(res, 404, { error: `unknown model: ${path}` })
      if (req.method === 'GET' && tail === '') return reply(res, 200, metadata)
      if (req.method === 'GET' && tail === '/config') {
        return opts.maxBatch === undefined
          ? reply(res, 404, { error: 'no config' })
          : reply(res, 200, { name: opts.name, max_batch_size: opts.maxBatch })
      }
      if (req.method === 'POST' && tail === '/infer') {
        infer(req, res, Buffer.concat(chunks)).catch((e: Error) => reply(res, 500, { error: e.message }))
        return
      }
      reply(res, 404, { error: 'not found' })
    })
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((r) => server.listen(opts.port ?? 0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  const origin = `http://127.0.0.1:${port}`
  return Object.assign(state, {
    origin,
    port,
    url: `${origin}${base}`,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((r) => server.close(() => r()))
      await session.release()
    },
  })
}
