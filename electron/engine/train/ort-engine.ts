/**
 * The default compute engine: small ONNX graphs, built with our protobuf writer, run by
 * onnxruntime-node on the same execution provider as the backbone. The heavy work per evaluation
 * is two matrix products (X W and X^T dZ); everything else is O(n K).
 *
 * Large n runs in row blocks: the block tensors of X are created once (views of the caller's
 * Float32Array, no copy) and reused by every evaluation, so memory stays near the size of X.
 */
import * as ort from 'onnxruntime-node'
import { buildModel, DataType, floatTensor, int64Tensor, type NodeInit } from '../onnx/proto.ts'
import { gatherBatch, loadTargets, type ComputeEngine, type EngineData, type EngineOptions, type LossKind, type RawSums } from './engine.ts'
import type { FeatureMatrix } from './types.ts'

const F = DataType.FLOAT

/**
 * Loss-and-gradient graph for one block. Inputs X (B x d), W (d x K), b (K), T (B x K);
 * outputs lsum (per row: for 'ce' sum_c t log p, for 'gce' sum_c t p^q), gw = dZ^T X (K x d),
 * gb = colsum(dZ) (K). The JS side sums lsum in float64 (a float32 sum over 60k rows would be
 * too coarse for the line search near the optimum) and turns it into the loss (formulas in
 * engine.ts). Opset 13: ReduceSum takes its axes as an input; without it, it reduces over every
 * axis.
 */
function lossGraph(d: number, k: number, loss: LossKind, q: number): Uint8Array {
  const nodes: NodeInit[] = [
    { op: 'MatMul', inputs: ['X', 'W'], outputs: ['XW'] },
    { op: 'Add', inputs: ['XW', 'b'], outputs: ['Z'] },
    { op: 'LogSoftmax', inputs: ['Z'], outputs: ['LS'], attrs: { axis: { i: 1 } } },
    { op: 'Exp', inputs: ['LS'], outputs: ['P'] },
  ]
  const inits = [int64Tensor('ax0', [0]), int64Tensor('ax1', [1])]
  if (loss === 'ce') {
    nodes.push(
      { op: 'Mul', inputs: ['T', 'LS'], outputs: ['TLS'] },
      { op: 'ReduceSum', inputs: ['TLS', 'ax1'], outputs: ['lsum'], attrs: { keepdims: { i: 0 } } },
      { op: 'Sub', inputs: ['P', 'T'], outputs: ['dZ'] },
    )
  } else {
    inits.push(floatTensor('q', [q], []))
    nodes.push(
      // p^q = exp(q log p): stable where p underflows.
      { op: 'Mul', inputs: ['LS', 'q'], outputs: ['qLS'] },
      { op: 'Exp', inputs: ['qLS'], outputs: ['PQ'] },
      { op: 'Mul', inputs: ['T', 'PQ'], outputs: ['A'] },
      { op: 'ReduceSum', inputs: ['A', 'ax1'], outputs: ['S'], attrs: { keepdims: { i: 1 } } },
      { op: 'ReduceSum', inputs: ['A', 'ax1'], outputs: ['lsum'], attrs: { keepdims: { i: 0 } } },
      { op: 'Mul', inputs: ['S', 'P'], outputs: ['SP'] },
      { op: 'Sub', inputs: ['SP', 'A'], outputs: ['dZ'] },
    )
  }
  nodes.push(
    // dZ^T X (K x d) rather than X^T dZ: measured faster with onnxruntime's MLAS for row blocks
    // of a few thousand (the long reduction over rows then streams X once).
    { op: 'Gemm', inputs: ['dZ', 'X'], outputs: ['gw'], attrs: { transA: { i: 1 } } },
    { op: 'ReduceSum', inputs: ['dZ', 'ax0'], outputs: ['gb'], attrs: { keepdims: { i: 0 } } },
  )
  return buildModel({
    graph: {
      name: `softmax-regression-${loss}`,
      nodes,
      initializers: inits,
      inputs: [
        { name: 'X', type: F, shape: ['B', d] },
        { name: 'W', type: F, shape: [d, k] },
        { name: 'b', type: F, shape: [k] },
        { name: 'T', type: F, shape: ['B', k] },
      ],
      outputs: [
        { name: 'lsum', type: F, shape: ['B'] },
        { name: 'gw', type: F, shape: [k, d] },
        { name: 'gb', type: F, shape: [k] },
      ],
    },
  })
}

/** softmax(X W + b). */
function probsGraph(d: number, k: number): Uint8Array {
  return buildModel({
    graph: {
      name: 'softmax-regression-predict',
      nodes: [
        { op: 'MatMul', inputs: ['X', 'W'], outputs: ['XW'] },
        { op: 'Add', inputs: ['XW', 'b'], outputs: ['Z'] },
        { op: 'Softmax', inputs: ['Z'], outputs: ['P'], attrs: { axis: { i: 1 } } },
      ],
      inputs: [
        { name: 'X', type: F, shape: ['B', d] },
        { name: 'W', type: F, shape: [d, k] },
        { name: 'b', type: F, shape: [k] },
      ],
      outputs: [{ name: 'P', type: F, shape: ['B', k] }],
    },
  })
}

/** A bare MatMul graph (for the throughput benchmark's baseline). */
export function matmulGraph(d: number, k: number): Uint8Array {
  return buildModel({
    graph: {
      name: 'matmul',
      nodes: [{ op: 'MatMul', inputs: ['X', 'W'], outputs: ['Y'] }],
      inputs: [
        { name: 'X', type: F, shape: ['B', d] },
        { name: 'W', type: F, shape: [d, k] },
      ],
      outputs: [{ name: 'Y', type: F, shape: ['B', k] }],
    },
  })
}

/** X_block X^T: one block of rows of the Gram matrix. */
function gramGraph(d: number): Uint8Array {
  return buildModel({
    graph: {
      name: 'gram',
      nodes: [{ op: 'Gemm', inputs: ['A', 'X'], outputs: ['G'], attrs: { transB: { i: 1 } } }],
      inputs: [
        { name: 'A', type: F, shape: ['B', d] },
        { name: 'X', type: F, shape: ['N', d] },
      ],
      outputs: [{ name: 'G', type: F, shape: ['B', 'N'] }],
    },
  })
}

/** Session options shared by every graph of the engine. */
export function sessionOptions(opts: EngineOptions): ort.InferenceSession.SessionOptions {
  const ep = opts.executionProvider ?? 'cpu'
  const o: ort.InferenceSession.SessionOptions = {
    executionProviders: ep === 'cpu' ? ['cpu'] : [ep, 'cpu'],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  }
  if (opts.threads) o.intraOpNumThreads = opts.threads
  return o
}

/**
 * Creates a session on the requested execution provider; when that provider is not available in
 * this onnxruntime build (e.g. 'cuda' with the CPU-only package), falls back to the CPU and says
 * so through `onFallback` (the engine's `backend` string records it).
 */
async function createSession(bytes: Uint8Array, opts: EngineOptions, onFallback: (why: string) => void): Promise<ort.InferenceSession> {
  const ep = opts.executionProvider ?? 'cpu'
  try {
    return await ort.InferenceSession.create(bytes, sessionOptions(opts))
  } catch (e) {
    if (ep === 'cpu') throw new Error(`onnxruntime could not create the training graph: ${(e as Error).message}`)
    onFallback((e as Error).message)
    return ort.InferenceSession.create(bytes, sessionOptions({ ...opts, executionProvider: 'cpu' }))
  }
}

interface Block {
  r0: number
  rows: number
  x: ort.Tensor
  t?: ort.Tensor
}

/** Matrices up to this many elements run their graphs on one thread (see `single` below). */
const SINGLE_THREAD_ELEMENTS = 1 << 20

/** Creates the onnxruntime engine. */
export async function createOrtEngine(opts: EngineOptions = {}): Promise<ComputeEngine> {
  const blockRows = Math.max(1, opts.blockRows ?? 4096)
  const sessions = new Map<string, Promise<ort.InferenceSession>>()
  const ep = opts.executionProvider ?? 'cpu'
  let backend = `onnxruntime ${ep}`
  const onFallback = (why: string) => {
    backend = `onnxruntime cpu (execution provider '${ep}' unavailable: ${why.split('\n')[0]})`
  }
  // Small matrices (a reduced selection fold is a few hundred square) run on one intra-op thread:
  // there the thread pool's hand-offs cost more than the product, and badly so on a busy machine.
  const single = (rows: number, d: number) => ep === 'cpu' && opts.threads === undefined && rows * d <= SINGLE_THREAD_ELEMENTS
  const session = (key: string, build: () => Uint8Array, oneThread = false): Promise<ort.InferenceSession> => {
    const full = oneThread ? `${key}:1t` : key
    let s = sessions.get(full)
    if (!s) {
      s = createSession(build(), oneThread ? { ...opts, threads: 1 } : opts, onFallback)
      sessions.set(full, s)
    }
    return s
  }
  const lossSession = (d: number, k: number, loss: LossKind, q: number, rows: number) =>
    session(`loss:${d}:${k}:${loss}:${loss === 'gce' ? q : ''}`, () => lossGraph(d, k, loss, q), single(rows, d))
  const probsSession = (d: number, k: number, rows: number) => session(`probs:${d}:${k}`, () => probsGraph(d, k), single(rows, d))

  function blocksOf(x: FeatureMatrix): Block[] {
    const out: Block[] = []
    for (let r0 = 0; r0 < x.n; r0 += blockRows) {
      const rows = Math.min(blockRows, x.n - r0)
      out.push({ r0, rows, x: new ort.Tensor('float32', x.data.subarray(r0 * x.d, (r0 + rows) * x.d), [rows, x.d]) })
    }
    return out
  }

  async function predictBlocks(blocks: Block[], n: number, d: number, k: number, w: Float32Array, b: Float32Array) {
    const sess = await probsSession(d, k, n)
    const W = new ort.Tensor('float32', w, [d, k])
    const B = new ort.Tensor('float32', b, [k])
    const out = new Float32Array(n * k)
    for (const bl of blocks) {
      const r = await sess.run({ X: bl.x, W, b: B })
      out.set(r.P!.data as Float32Array, bl.r0 * k)
    }
    return out
  }

  const engine: ComputeEngine = {
    name: 'ort',
    get backend() {
      return backend
    },
    async load(x: FeatureMatrix, k: number): Promise<EngineData> {
      const { n, d } = x
      const held = loadTargets(x, k)
      const blocks = blocksOf(x)
      return {
        n,
        d,
        k,
        async setTargets(t, loss, q) {
          const { targets } = held.set(t, loss, q)
          for (const bl of blocks) bl.t = new ort.Tensor('float32', targets.subarray(bl.r0 * k, (bl.r0 + bl.rows) * k), [bl.rows, k])
        },
        async sums(w, b, rows): Promise<RawSums> {
          const { targets, rowSum, loss: lossKind, q } = held.current()
          const sess = await lossSession(d, k, lossKind, q, rows ? rows.length : n)
          const W = new ort.Tensor('float32', w, [d, k])
          const B = new ort.Tensor('float32', b, [k])
          const gw = new Float64Array(d * k)
          const gb = new Float64Array(k)
          let lsum = 0
          let tsum = 0
          const add = (r: ort.InferenceSession.OnnxValueMapType) => {
            const l = r.lsum!.data as Float32Array
            for (let i = 0; i < l.length; i++) lsum += l[i]!
            // gw arrives as K x d; accumulate transposed into d x K.
            const g = r.gw!.data as Float32Array
            for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) gw[j * k + c]! += g[c * d + j]!
            const g2 = r.gb!.data as Float32Array
            for (let i = 0; i < k; i++) gb[i]! += g2[i]!
          }
          if (rows) {
            // A mini-batch: gather its rows (small) into fresh tensors.
            const m = rows.length
            const batch = gatherBatch(x, targets, k, rowSum, rows)
            const { xb, tb } = batch
            tsum = batch.tsum
            add(await sess.run({ X: new ort.Tensor('float32', xb, [m, d]), W, b: B, T: new ort.Tensor('float32', tb, [m, k]) }))
          } else {
            for (const bl of blocks) add(await sess.run({ X: bl.x, W, b: B, T: bl.t! }))
            for (let i = 0; i < n; i++) tsum += rowSum[i]!
          }
          return { loss: held.loss(lsum, tsum), gw, gb }
        },
        probs(w, b) {
          return predictBlocks(blocks, n, d, k, w, b)
        },
        async dispose() {
          blocks.length = 0
          held.clear()
        },
      }
    },
    async predict(x, w, b, k) {
      return predictBlocks(blocksOf(x), x.n, x.d, k, w, b)
    },
    async multiply(x, b, m) {
      const sess = await session(`matmul:${x.d}:${m}`, () => matmulGraph(x.d, m))
      const B = new ort.Tensor('float32', b, [x.d, m])
      const out = new Float32Array(x.n * m)
      for (const bl of blocksOf(x)) {
        const r = await sess.run({ X: bl.x, W: B })
        out.set(r.Y!.data as Float32Array, bl.r0 * m)
      }
      return out
    },
    async gram(x) {
      const sess = await session(`gram:${x.d}`, () => gramGraph(x.d))
      const all = new ort.Tensor('float32', x.data, [x.n, x.d])
      const out = new Float64Array(x.n * x.n)
      for (const bl of blocksOf(x)) {
        const r = await sess.run({ A: bl.x, X: all })
        out.set(r.G!.data as Float32Array, bl.r0 * x.n)
      }
      return out
    },
    async dispose() {
      for (const s of sessions.values()) await (await s).release()
      sessions.clear()
    },
  }
  return engine
}
