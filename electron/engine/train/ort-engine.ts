/**
 * The default compute engine: small ONNX graphs, built with our protobuf writer, run by
 * onnxruntime-node on the same execution provider as the backbone. The heavy work per evaluation
 * is two matrix products (X W and X^T dZ); everything else is O(n K).
 *
 * Two variants of the full-matrix evaluation:
 * - fed (the CPU default): large n runs in row blocks whose tensors are views of the caller's
 *   Float32Array (no copy), fed to one loss graph on every evaluation, so memory stays near the
 *   size of X. On a GPU this uploads all of X on every evaluation.
 * - resident: one graph per row block with that block of X baked in as a constant (an
 *   initializer), so onnxruntime places X on the device once per loaded matrix and an evaluation
 *   moves only W, b and the block's targets (n x K, small next to X) in, and the per-row loss
 *   terms and the K x d gradient out. One graph serves both losses (a `ce` flag input), so X is
 *   held once per matrix whatever the loss. Memory: onnxruntime holds its own copy of each block
 *   (on a GPU in device memory; on the CPU also a packed copy for the Gemm, about 3x X in all), and
 *   building a block's graph briefly holds a few copies of that one block on the host.
 * With `resident: 'auto'` (the default) and a GPU provider, the first full evaluation of each
 * loaded matrix times the resident GPU variant against the fed CPU variant and keeps the faster;
 * any failure of the GPU path falls back to the CPU with a logged reason (`log`, and the engine's
 * `backend` string, which refine.ts records with each run).
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

/**
 * The resident loss-and-gradient graph of one row block: X (rows x d) is an initializer, so it is
 * uploaded to the device when the session is created and stays there. Inputs W (d x K), b (K),
 * T (rows x K), ce (scalar: > 0.5 for 'ce', else 'gce') and q (scalar, the GCE exponent); outputs
 * as `lossGraph`. Both losses are computed and `Where` picks one (exactly, no arithmetic
 * blending): the extra work is O(rows K), and one session per block serves teacher and student.
 */
function residentLossGraph(x: Float32Array, rows: number, d: number, k: number): Uint8Array {
  return buildModel({
    graph: {
      name: 'softmax-regression-resident',
      nodes: [
        { op: 'MatMul', inputs: ['X', 'W'], outputs: ['XW'] },
        { op: 'Add', inputs: ['XW', 'b'], outputs: ['Z'] },
        { op: 'LogSoftmax', inputs: ['Z'], outputs: ['LS'], attrs: { axis: { i: 1 } } },
        { op: 'Exp', inputs: ['LS'], outputs: ['P'] },
        // ce: t log p and p - t
        { op: 'Mul', inputs: ['T', 'LS'], outputs: ['TLS'] },
        { op: 'Sub', inputs: ['P', 'T'], outputs: ['dZce'] },
        // gce: a = t p^q, s = sum_c a, s p - a
        { op: 'Mul', inputs: ['LS', 'q'], outputs: ['qLS'] },
        { op: 'Exp', inputs: ['qLS'], outputs: ['PQ'] },
        { op: 'Mul', inputs: ['T', 'PQ'], outputs: ['A'] },
        { op: 'ReduceSum', inputs: ['A', 'ax1'], outputs: ['S'], attrs: { keepdims: { i: 1 } } },
        { op: 'Mul', inputs: ['S', 'P'], outputs: ['SP'] },
        { op: 'Sub', inputs: ['SP', 'A'], outputs: ['dZgce'] },
        { op: 'Greater', inputs: ['ce', 'half'], outputs: ['isCe'] },
        { op: 'Where', inputs: ['isCe', 'TLS', 'A'], outputs: ['L'] },
        { op: 'ReduceSum', inputs: ['L', 'ax1'], outputs: ['lsum'], attrs: { keepdims: { i: 0 } } },
        { op: 'Where', inputs: ['isCe', 'dZce', 'dZgce'], outputs: ['dZ'] },
        { op: 'Gemm', inputs: ['dZ', 'X'], outputs: ['gw'], attrs: { transA: { i: 1 } } },
        { op: 'ReduceSum', inputs: ['dZ', 'ax0'], outputs: ['gb'], attrs: { keepdims: { i: 0 } } },
      ],
      initializers: [{ name: 'X', dims: [rows, d], data: x }, int64Tensor('ax0', [0]), int64Tensor('ax1', [1]), floatTensor('half', [0.5], [])],
      inputs: [
        { name: 'W', type: F, shape: [d, k] },
        { name: 'b', type: F, shape: [k] },
        { name: 'T', type: F, shape: [rows, k] },
        { name: 'ce', type: F, shape: [] },
        { name: 'q', type: F, shape: [] },
      ],
      outputs: [
        { name: 'lsum', type: F, shape: [rows] },
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

/** Options of the onnxruntime engine beyond the shared ones (tests and benchmarks). */
export interface OrtEngineOptions extends EngineOptions {
  /**
   * `resident: 'auto'` on a GPU provider: a matrix with fewer multiply-adds per evaluation
   * (n d K) than this stays on the CPU, fed, without trying the GPU (default 2^24, about 1-2 ms
   * of CPU work, less than a GPU's per-run overheads repay).
   */
  autoMinWork?: number
  /** Timed evaluations per variant in the 'auto' measurement, after one warm-up (default 2). */
  autoReps?: number
  /**
   * Rows per resident block (default: `blockRows` on the CPU; on a GPU, blocks of about 64 MB of
   * X, below WebGPU's usual 128 MB binding limit, so that an evaluation is a few large runs).
   */
  residentBlockRows?: number
  /**
   * `resident: 'auto'` with the CPU provider: time the resident CPU variant against the fed one
   * and keep the faster, as a GPU provider does (for benchmarks and tests of the measurement on a
   * machine without a GPU; off by default because the resident CPU variant holds about 3x X).
   */
  measureOnCpu?: boolean
}

/** How the full-matrix evaluations of one loaded matrix run. */
export interface Placement {
  /** The execution provider that runs them ('cpu' after a fallback). */
  ep: string
  /** X resident (per-block graphs with X as a constant) rather than fed as views. */
  resident: boolean
  /** Why, in one line ('' for the plain default: the CPU, fed). */
  reason: string
  /** What 'auto' measured, ms per evaluation: the resident GPU variant and the fed CPU variant. */
  timings?: { resident: number; cpu: number }
}

/** What the onnxruntime engine holds for one matrix: `EngineData` plus where it runs. */
export interface OrtEngineData extends EngineData {
  /** Undefined until the first full evaluation where 'auto' has still to measure. */
  readonly placement: Placement | undefined
}

export interface OrtEngine extends ComputeEngine {
  load(x: FeatureMatrix, k: number): Promise<OrtEngineData>
  /** Why the requested GPU provider was given up for the CPU, once that happened. */
  readonly gpuFailure: string | undefined
}

interface Block {
  r0: number
  rows: number
  x: ort.Tensor
}

interface ResidentBlock {
  r0: number
  rows: number
  sess: ort.InferenceSession
}

/** Matrices up to this many elements run their graphs on one thread (see `single` below). */
const SINGLE_THREAD_ELEMENTS = 1 << 20

/** 'auto': below this much work per evaluation (n d K multiply-adds) the GPU is not tried. */
const AUTO_MIN_WORK = 1 << 24

/** Bytes of X per resident block on a GPU. */
const GPU_RESIDENT_BLOCK_BYTES = 64 << 20

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!
const ms = (v: number): string => v.toFixed(v < 10 ? 2 : 1)

/**
 * QC_ORT_RESIDENT=true|false|auto sets the default of `resident` for engines created without it
 * (refine runs from the CLI, the app and the benchmarks), e.g. to force a variant on a GPU.
 */
function residentFromEnv(): boolean | 'auto' | undefined {
  const v = process.env.QC_ORT_RESIDENT?.trim().toLowerCase()
  if (!v) return undefined
  if (v === 'true' || v === '1') return true
  if (v === 'false' || v === '0') return false
  if (v === 'auto') return 'auto'
  throw new Error(`QC_ORT_RESIDENT must be true, false or auto, got '${process.env.QC_ORT_RESIDENT}'`)
}

/** Creates the onnxruntime engine. */
export async function createOrtEngine(opts: OrtEngineOptions = {}): Promise<OrtEngine> {
  const blockRows = Math.max(1, opts.blockRows ?? 4096)
  const sessions = new Map<string, Promise<ort.InferenceSession>>()
  const ep = opts.executionProvider ?? 'cpu'
  const mode = opts.resident ?? residentFromEnv() ?? 'auto'
  const log = opts.log ?? (ep === 'cpu' ? () => {} : (m: string) => console.warn(`training: ${m}`))
  let gpuFailure: string | undefined
  let backend = `onnxruntime ${ep}${ep === 'cpu' && mode === true ? ', X resident' : ''}`

  /** Gives up the GPU for this engine (every later session and evaluation runs on the CPU). */
  const fail = (e: unknown) => {
    if (gpuFailure !== undefined) return
    gpuFailure = firstLine(e)
    backend = `onnxruntime cpu (execution provider '${ep}' unavailable: ${gpuFailure})`
    log(`execution provider '${ep}' failed (${gpuFailure}); training on cpu`)
  }
  /**
   * Runs `f` on `onEp`; a GPU provider that fails to create a session or to run (or was given up
   * before) hands the work to the CPU. `f` starts from scratch on each call.
   */
  async function onDevice<T>(onEp: string, f: (onEp: string) => Promise<T>): Promise<T> {
    if (onEp !== 'cpu' && gpuFailure === undefined) {
      try {
        return await f(onEp)
      } catch (e) {
        fail(e)
      }
    }
    return f('cpu')
  }

  // Small matrices (a reduced selection fold is a few hundred square) run on one intra-op thread:
  // there the thread pool's hand-offs cost more than the product, and badly so on a busy machine.
  const single = (rows: number, d: number) => opts.threads === undefined && rows * d <= SINGLE_THREAD_ELEMENTS
  // A GPU provider that fails to start makes onnxruntime print its own error line; the logged
  // fallback says it better, so GPU sessions are created with onnxruntime's logging at 'fatal'.
  const create = (bytes: Uint8Array, onEp: string, oneThread: boolean): Promise<ort.InferenceSession> =>
    ort.InferenceSession.create(bytes, {
      ...sessionOptions({ ...opts, executionProvider: onEp, ...(oneThread && onEp === 'cpu' ? { threads: 1 } : {}) }),
      ...(onEp === 'cpu' ? {} : { logSeverityLevel: 4 as const }),
    })
  /** A cached session of a fed graph on `onEp` (no fallback here: see `onDevice`). */
  const session = (onEp: string, key: string, build: () => Uint8Array, oneThread = false): Promise<ort.InferenceSession> => {
    const full = `${onEp}|${key}${oneThread && onEp === 'cpu' ? ':1t' : ''}`
    let s = sessions.get(full)
    if (!s) {
      s = create(build(), onEp, oneThread)
      sessions.set(full, s)
      s.catch(() => sessions.delete(full))
    }
    return s
  }
  const lossSession = (onEp: string, d: number, k: number, loss: LossKind, q: number, rows: number) =>
    session(onEp, `loss:${d}:${k}:${loss}:${loss === 'gce' ? q : ''}`, () => lossGraph(d, k, loss, q), single(rows, d))
  const probsSession = (onEp: string, d: number, k: number, rows: number) => session(onEp, `probs:${d}:${k}`, () => probsGraph(d, k), single(rows, d))

  function blocksOf(x: FeatureMatrix): Block[] {
    const out: Block[] = []
    for (let r0 = 0; r0 < x.n; r0 += blockRows) {
      const rows = Math.min(blockRows, x.n - r0)
      out.push({ r0, rows, x: new ort.Tensor('float32', x.data.subarray(r0 * x.d, (r0 + rows) * x.d), [rows, x.d]) })
    }
    return out
  }

  async function predictBlocks(onEp: string, blocks: Block[], n: number, d: number, k: number, w: Float32Array, b: Float32Array) {
    const sess = await probsSession(onEp, d, k, n)
    const W = new ort.Tensor('float32', w, [d, k])
    const B = new ort.Tensor('float32', b, [k])
    const out = new Float32Array(n * k)
    for (const bl of blocks) {
      const r = await sess.run({ X: bl.x, W, b: B })
      out.set(r.P!.data as Float32Array, bl.r0 * k)
    }
    return out
  }

  /** Sums of block results, gw transposed from K x d into d x K. */
  function accumulator(d: number, k: number) {
    const gw = new Float64Array(d * k)
    const gb = new Float64Array(k)
    let lsum = 0
    return {
      add(r: ort.InferenceSession.OnnxValueMapType) {
        const l = r.lsum!.data as Float32Array
        for (let i = 0; i < l.length; i++) lsum += l[i]!
        const g = r.gw!.data as Float32Array
        for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) gw[j * k + c]! += g[c * d + j]!
        const g2 = r.gb!.data as Float32Array
        for (let i = 0; i < k; i++) gb[i]! += g2[i]!
      },
      get lsum() {
        return lsum
      },
      gw,
      gb,
    }
  }

  const engine: OrtEngine = {
    name: 'ort',
    get backend() {
      return backend
    },
    get gpuFailure() {
      return gpuFailure
    },
    async load(x: FeatureMatrix, k: number): Promise<OrtEngineData> {
      const { n, d } = x
      const held = loadTargets(x, k)
      const blocks = blocksOf(x)
      let resident: { ep: string; blocks: ResidentBlock[] } | undefined
      let placement: Placement | undefined

      const describe = (p: Placement) => `onnxruntime ${p.ep}${p.resident ? ', X resident' : ''}${p.reason ? ` (${p.reason})` : ''}`
      const place = (p: Placement) => {
        placement = p
        backend = describe(p)
      }
      const cpuFallback = (): Placement => ({ ep: 'cpu', resident: false, reason: `execution provider '${ep}' unavailable: ${gpuFailure}` })
      if (ep === 'cpu' && !(mode === 'auto' && opts.measureOnCpu)) place({ ep, resident: mode === true, reason: '' })
      else if (gpuFailure !== undefined) place(cpuFallback())
      else if (mode !== 'auto') place({ ep, resident: mode, reason: '' })
      else if (n * d * k < (opts.autoMinWork ?? AUTO_MIN_WORK)) {
        place({ ep: 'cpu', resident: false, reason: `${n} x ${d} x ${k} is too small to pay for ${ep}; not timed` })
        log(`${n} x ${d}, K=${k}: too small to pay for ${ep}, training on cpu`)
      }

      async function dropResident() {
        const r = resident
        resident = undefined
        if (r) for (const bl of r.blocks) await bl.sess.release()
      }
      /** The resident graphs on `onEp` (built once per matrix; released on the way). */
      async function buildResident(onEp: string): Promise<{ ep: string; blocks: ResidentBlock[] }> {
        const per = Math.max(
          1,
          opts.residentBlockRows ?? (onEp === 'cpu' ? blockRows : Math.max(blockRows, Math.floor(GPU_RESIDENT_BLOCK_BYTES / (4 * d)))),
        )
        const out: ResidentBlock[] = []
        try {
          for (let r0 = 0; r0 < n; r0 += per) {
            const rows = Math.min(per, n - r0)
            // The model bytes (a few transient copies of this block) are dropped once onnxruntime has the constant.
            out.push({ r0, rows, sess: await create(residentLossGraph(x.data.subarray(r0 * d, (r0 + rows) * d), rows, d, k), onEp, single(n, d)) })
          }
        } catch (e) {
          for (const bl of out) await bl.sess.release()
          throw e
        }
        return { ep: onEp, blocks: out }
      }

      const tensors = (w: Float32Array, b: Float32Array) => ({ W: new ort.Tensor('float32', w, [d, k]), B: new ort.Tensor('float32', b, [k]) })
      const targetSum = (rowSum: Float64Array) => {
        let s = 0
        for (let i = 0; i < n; i++) s += rowSum[i]!
        return s
      }
      /** One full evaluation, X fed as views, on `onEp`. */
      async function fedSums(onEp: string, w: Float32Array, b: Float32Array): Promise<RawSums> {
        const { targets, rowSum, loss, q } = held.current()
        const sess = await lossSession(onEp, d, k, loss, q, n)
        const { W, B } = tensors(w, b)
        const acc = accumulator(d, k)
        for (const bl of blocks) {
          const T = new ort.Tensor('float32', targets.subarray(bl.r0 * k, (bl.r0 + bl.rows) * k), [bl.rows, k])
          acc.add(await sess.run({ X: bl.x, W, b: B, T }))
        }
        return { loss: held.loss(acc.lsum, targetSum(rowSum)), gw: acc.gw, gb: acc.gb }
      }
      /** One full evaluation with X resident in the graphs of `r`. */
      async function residentSums(r: { blocks: ResidentBlock[] }, w: Float32Array, b: Float32Array): Promise<RawSums> {
        const { targets, rowSum, loss, q } = held.current()
        const { W, B } = tensors(w, b)
        const ce = new ort.Tensor('float32', Float32Array.of(loss === 'ce' ? 1 : 0), [])
        const Q = new ort.Tensor('float32', Float32Array.of(q), [])
        const acc = accumulator(d, k)
        for (const bl of r.blocks) {
          const T = new ort.Tensor('float32', targets.subarray(bl.r0 * k, (bl.r0 + bl.rows) * k), [bl.rows, k])
          acc.add(await bl.sess.run({ W, b: B, T, ce, q: Q }))
        }
        return { loss: held.loss(acc.lsum, targetSum(rowSum)), gw: acc.gw, gb: acc.gb }
      }
      /** Wall time of one call, and its result. */
      async function clock(f: () => Promise<RawSums>): Promise<{ ms: number; last: RawSums }> {
        const t0 = performance.now()
        const last = await f()
        return { ms: performance.now() - t0, last }
      }
      /**
       * 'auto' on a GPU: times the resident GPU variant against the fed CPU one and keeps the
       * faster (the CPU when the GPU path fails). Each variant runs once untimed (session creation,
       * shader compilation, allocations), then they alternate, so that a busy machine slows both
       * alike; the best time of each counts. With `measureOnCpu`, the same on the CPU.
       */
      async function decide(w: Float32Array, b: Float32Array): Promise<RawSums> {
        const reps = Math.max(1, opts.autoReps ?? 2)
        let r: { ep: string; blocks: ResidentBlock[] } | undefined
        try {
          r = resident = await buildResident(ep)
          await residentSums(r, w, b)
        } catch (e) {
          await dropResident()
          r = undefined
          if (ep === 'cpu') throw e
          fail(e)
        }
        let cpu = await clock(() => fedSums('cpu', w, b)) // untimed: the CPU session's creation
        let gpu: { ms: number; last: RawSums } | undefined
        let cpuBest = Infinity
        for (let i = 0; i < reps; i++) {
          if (r) {
            try {
              const g = await clock(() => residentSums(r!, w, b))
              gpu = { ms: Math.min(gpu?.ms ?? Infinity, g.ms), last: g.last }
            } catch (e) {
              await dropResident()
              r = gpu = undefined
              if (ep === 'cpu') throw e
              fail(e)
            }
          }
          cpu = await clock(() => fedSums('cpu', w, b))
          cpuBest = Math.min(cpuBest, cpu.ms)
        }
        cpu = { ms: cpuBest, last: cpu.last }
        if (!gpu) {
          place(cpuFallback())
          return cpu.last
        }
        const timings = { resident: gpu.ms, cpu: cpu.ms }
        const useGpu = gpu.ms < cpu.ms
        log(
          `${n} x ${d}, K=${k}: ${ep} with X resident ${ms(gpu.ms)} ms per evaluation, cpu (fed) ${ms(cpu.ms)} ms; training on ${useGpu ? `${ep} with X resident` : 'cpu (fed)'}`,
        )
        if (useGpu) {
          place({ ep, resident: true, reason: `measured ${ms(gpu.ms)} ms per evaluation vs cpu ${ms(cpu.ms)} ms`, timings })
          return gpu.last
        }
        await dropResident()
        place({ ep: 'cpu', resident: false, reason: `faster than ${ep} with X resident: ${ms(cpu.ms)} vs ${ms(gpu.ms)} ms per evaluation`, timings })
        return cpu.last
      }
      /** After the GPU was given up mid-way: this matrix goes to the CPU, fed. */
      async function afterFailure() {
        if (gpuFailure !== undefined && placement && placement.ep !== 'cpu') {
          await dropResident()
          place(cpuFallback())
        }
      }

      return {
        n,
        d,
        k,
        get placement() {
          return placement
        },
        async setTargets(t, loss, q) {
          held.set(t, loss, q)
        },
        async sums(w, b, rows): Promise<RawSums> {
          const { targets, rowSum, loss: lossKind, q } = held.current()
          if (rows) {
            // A mini-batch: gather its rows (small) into fresh tensors, on the device chosen for
            // the full evaluations (the CPU until 'auto' has chosen).
            const m = rows.length
            const { xb, tb, tsum } = gatherBatch(x, targets, k, rowSum, rows)
            const out = await onDevice(placement?.ep ?? 'cpu', async (onEp) => {
              const sess = await lossSession(onEp, d, k, lossKind, q, m)
              const { W, B } = tensors(w, b)
              const acc = accumulator(d, k)
              acc.add(await sess.run({ X: new ort.Tensor('float32', xb, [m, d]), W, b: B, T: new ort.Tensor('float32', tb, [m, k]) }))
              return { loss: held.loss(acc.lsum, tsum), gw: acc.gw, gb: acc.gb }
            })
            await afterFailure()
            return out
          }
          if (!placement) return decide(w, b)
          const p = placement
          const out = await onDevice(p.ep, async (onEp) => {
            if (!p.resident || onEp !== p.ep) return fedSums(onEp, w, b)
            if (!resident) resident = await buildResident(onEp)
            return residentSums(resident, w, b)
          })
          await afterFailure()
          return out
        },
        async probs(w, b) {
          const out = await onDevice(placement?.ep ?? 'cpu', (onEp) => predictBlocks(onEp, blocks, n, d, k, w, b))
          await afterFailure()
          return out
        },
        async dispose() {
          blocks.length = 0
          await dropResident()
          held.clear()
        },
      }
    },
    async predict(x, w, b, k) {
      return onDevice(ep, (onEp) => predictBlocks(onEp, blocksOf(x), x.n, x.d, k, w, b))
    },
    async multiply(x, b, m) {
      return onDevice(ep, async (onEp) => {
        const sess = await session(onEp, `matmul:${x.d}:${m}`, () => matmulGraph(x.d, m))
        const B = new ort.Tensor('float32', b, [x.d, m])
        const out = new Float32Array(x.n * m)
        for (const bl of blocksOf(x)) {
          const r = await sess.run({ X: bl.x, W: B })
          out.set(r.Y!.data as Float32Array, bl.r0 * m)
        }
        return out
      })
    },
    async gram(x) {
      return onDevice(ep, async (onEp) => {
        const sess = await session(onEp, `gram:${x.d}`, () => gramGraph(x.d))
        const all = new ort.Tensor('float32', x.data, [x.n, x.d])
        const out = new Float64Array(x.n * x.n)
        for (const bl of blocksOf(x)) {
          const r = await sess.run({ A: bl.x, X: all })
          out.set(r.G!.data as Float32Array, bl.r0 * x.n)
        }
        return out
      })
    },
    async dispose() {
      for (const s of sessions.values()) await (await s).release()
      sessions.clear()
    },
  }
  return engine
}
