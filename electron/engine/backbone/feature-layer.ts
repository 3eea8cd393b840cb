/**
 * Which tensor of an ONNX image model is the feature vector. The method assumes the pooled
 * features that feed a network's final classifier (the paper: the 512-d pooled features of a
 * ResNet-34), not the class logits a classifier outputs, so a model is asked for:
 *
 * - 'penultimate': the input of the classifier head. From each graph output (in order) the graph
 *   is walked back through the head's cheap tail (Softmax, bias Add, Flatten, Reshape, Identity,
 *   Dropout, ...) to the last Gemm or MatMul with a constant weight; its other input is the
 *   feature. Walking on back through Flatten / Reshape / Squeeze reaches the tensor before
 *   flattening (ResNet's GlobalAveragePool output, N x 512 x 1 x 1): when that is 4-D it is used
 *   and globally average-pooled (so a head that flattens an N x C x H x W map gives C features,
 *   not C·H·W).
 * - 'output': the model's first output, as exported (a model that already ends in features).
 * - any other string: that tensor, by name.
 * - unset: 'penultimate' when the graph has such a head, else 'output'.
 *
 * A tensor that is not already a graph output is made one by editing the graph (onnx/graph.ts);
 * the model file itself is never changed: the edit is made in memory each time it is loaded.
 */
import { readFileSync } from 'node:fs'
import { readGraph, withGraphOutputs, type GraphSummary } from '../onnx/graph.ts'

/** How the feature tensor was asked for. */
export type FeatureLayerRequest = 'penultimate' | 'output' | (string & {})

/** How a feature tensor becomes one vector per image. */
export type FeaturePool = 'none' | 'gap' | 'cls'

/** The head's tail between the classifier's product and the graph output. */
const HEAD_TAIL = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Softmax',
  'LogSoftmax',
  'Sigmoid',
  'Identity',
  'Flatten',
  'Reshape',
  'Squeeze',
  'Dropout',
  'Cast',
])
/** Shape-only steps between pooled features and the classifier's input. */
const RESHAPES = new Set(['Flatten', 'Reshape', 'Squeeze', 'Identity', 'Dropout'])

/** Candidate tensors for the penultimate features: the tensor before flattening first, then the head's input. */
export interface HeadInput {
  /** The classifier node (Gemm or MatMul). */
  head: string
  /** The classifier's data input. */
  input: string
  /** The tensor before any Flatten/Reshape/Squeeze leading to `input` (same as `input` when there is none). */
  source: string
}

/**
 * Finds the classifier head's input (see the module comment), or null when no graph output is
 * reached from a Gemm/MatMul with a constant weight through the head's tail.
 */
export function findHeadInput(g: GraphSummary): HeadInput | null {
  const producer = new Map<string, (typeof g.nodes)[number]>()
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o, n)
  // Constants: weights, and outputs of Constant nodes.
  const constant = (t: string): boolean => g.initializers.has(t) || producer.get(t)?.opType === 'Constant'
  for (const out of g.outputs) {
    let t = out
    for (let steps = 0; steps < 64; steps++) {
      const n = producer.get(t)
      if (!n) break
      if (n.opType === 'Gemm' || n.opType === 'MatMul') {
        const [a, b] = n.inputs
        if (a === undefined || b === undefined) break
        const data = constant(b) && !constant(a) ? a : constant(a) && !constant(b) ? b : null
        if (!data) break
        let source = data
        for (let p = producer.get(source); p && RESHAPES.has(p.opType) && p.inputs[0]; p = producer.get(source)) source = p.inputs[0]
        return { head: n.name || n.opType, input: data, source }
      }
      if (!HEAD_TAIL.has(n.opType)) break
      const live = n.inputs.filter((i) => i && !constant(i))
      if (live.length !== 1) break
      t = live[0]!
    }
  }
  return null
}

/** Every tensor a node produces or the graph takes in, for naming choices in an error. */
function tensorNames(g: GraphSummary): Set<string> {
  const s = new Set<string>(g.inputs)
  for (const n of g.nodes) for (const o of n.outputs) s.add(o)
  return s
}

/** The model prepared for one feature layer: what to load and which outputs to fetch. */
export interface FeatureModel {
  /** The file's bytes with the candidates as graph outputs, or null when the file can be loaded as it is. */
  bytes: Uint8Array | null
  /** Tensors to try, best first (a trial run decides between them by rank). */
  candidates: string[]
  /** The request, as it will be stored ('penultimate', 'output' or the tensor name). */
  layer: FeatureLayerRequest
}

/**
 * Reads `file` and prepares it to produce the requested feature tensor. Errors name the file and
 * say what was looked for.
 */
export function prepareFeatureModel(file: string, request: FeatureLayerRequest | undefined, bytes?: Uint8Array): FeatureModel {
  const data = bytes ?? readFileSync(file)
  let g: GraphSummary
  try {
    g = readGraph(data)
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`)
  }
  const first = g.outputs[0]
  if (!first) throw new Error(`${file}: not usable as an image backbone: it has no outputs`)
  let layer: FeatureLayerRequest
  let candidates: string[]
  if (request === 'output') {
    layer = 'output'
    candidates = [first]
  } else if (request === 'penultimate' || request === undefined) {
    const h = findHeadInput(g)
    if (!h) {
      if (request === undefined) return { bytes: null, candidates: [first], layer: 'output' }
      throw new Error(
        `${file}: no classifier head found (no Gemm or MatMul with a constant weight leads to an output), so there is no penultimate layer to take; name the feature tensor (--feature-layer NAME) or use the model's output (--feature-layer output)`,
      )
    }
    layer = 'penultimate'
    candidates = h.source === h.input ? [h.input] : [h.source, h.input]
  } else {
    const names = tensorNames(g)
    if (!names.has(request)) {
      const tail = g.nodes
        .slice(-8)
        .flatMap((n) => n.outputs)
        .filter(Boolean)
      throw new Error(`${file}: the model has no tensor '${request}' (the last tensors of its graph: ${tail.join(', ')})`)
    }
    layer = request
    candidates = [request]
  }
  if (candidates.length === 1 && g.outputs.includes(candidates[0]!)) return { bytes: null, candidates, layer }
  if (g.externalData) {
    throw new Error(
      `${file}: its weights are in external data files, so its graph cannot be edited in memory to output '${candidates[0]}'; save the model as one file, or use --feature-layer output`,
    )
  }
  return { bytes: withGraphOutputs(data, candidates), candidates, layer }
}

/**
 * The vector length and pooling for a feature tensor of these dims (batch first). Rank 2 is used
 * as it is, rank 3 (N x tokens x D, a transformer's sequence) gives its first token (the class
 * token), rank 4 is globally average-pooled over its spatial axes. For rank 4 the channel axis
 * follows the model's input layout, except where the other reading has a 1 x 1 map and the
 * layout's own has a single channel (a converted NHWC model whose pooled tensor is N x C x 1 x 1).
 */
export function poolingFor(dims: readonly number[], layout: 'nchw' | 'nhwc'): { pool: FeaturePool; dim: number } | null {
  if (dims.length === 2) return { pool: 'none', dim: dims[1]! }
  if (dims.length === 3) return { pool: 'cls', dim: dims[2]! }
  if (dims.length !== 4) return null
  return { pool: 'gap', dim: dims[channelAxis(dims, layout)]! }
}

/** The channel axis (1 or 3) of a 4-D feature tensor; see poolingFor. */
export function channelAxis(dims: readonly number[], layout: 'nchw' | 'nhwc', dim?: number): 1 | 3 {
  const own: 1 | 3 = layout === 'nchw' ? 1 : 3
  const other: 1 | 3 = own === 1 ? 3 : 1
  if (dim !== undefined) return dims[own] === dim ? own : dims[other] === dim ? other : own
  const otherSpatial = other === 1 ? dims[2]! * dims[3]! : dims[1]! * dims[2]!
  return dims[own] === 1 && otherSpatial === 1 && dims[other]! > 1 ? other : own
}

/**
 * The model bytes to load so that `tensor` is a graph output: null when it already is one (load
 * the file as it is), else the file's graph edited in memory.
 */
export function modelWithOutput(file: string, tensor: string): Uint8Array | null {
  const data = readFileSync(file)
  const g = readGraph(data)
  if (g.outputs.includes(tensor)) return null
  if (g.externalData)
    throw new Error(`${file}: its weights are in external data files, so its graph cannot be edited in memory to output '${tensor}'`)
  if (!tensorNames(g).has(tensor)) throw new Error(`${file}: the model has no tensor '${tensor}' any more (was the file replaced?)`)
  return withGraphOutputs(data, [tensor])
}
