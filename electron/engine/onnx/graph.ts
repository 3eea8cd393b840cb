/**
 * Reading and editing existing ONNX models with protobufjs (the maintained protobuf library for
 * JavaScript). `proto.ts` writes the small graphs this project builds itself; this module reads a
 * model someone else exported and changes one thing in it: which tensors are the graph's outputs.
 *
 * Reading: the ONNX messages below are declared to protobufjs with the field numbers of the
 * official onnx/onnx.proto (ModelProto.graph = 7; GraphProto.node = 1, initializer = 5, input = 11,
 * output = 12, value_info = 13; NodeProto.input = 1, output = 2, name = 3, op_type = 4; ...). Only
 * the fields this module looks at are declared; protobufjs skips the others (weights' raw_data
 * included, without copying them).
 *
 * Editing: the model is not re-encoded from the decoded objects (that would drop every field not
 * declared here, e.g. model-local functions or training info). Instead the top-level fields are
 * copied byte for byte with protobufjs' Reader telling where each ends, and only the graph's
 * `output` entries are replaced, so everything else in the file survives unchanged.
 */
import protobuf from 'protobufjs'

const root = protobuf.Root.fromJSON({
  nested: {
    onnx: {
      nested: {
        ModelProto: { fields: { graph: { type: 'GraphProto', id: 7 } } },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
            valueInfo: { rule: 'repeated', type: 'ValueInfoProto', id: 13 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            domain: { type: 'string', id: 7 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            name: { type: 'string', id: 8 },
            dataLocation: { type: 'int32', id: 14 },
          },
        },
        ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } } },
        TypeProto: { fields: { tensorType: { type: 'TypeProtoTensor', id: 1 } } },
        TypeProtoTensor: { fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
        TensorShapeProto: { fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } } },
        Dimension: { fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } } },
      },
    },
  },
})
const ModelProto = root.lookupType('onnx.ModelProto')
const ValueInfoProto = root.lookupType('onnx.ValueInfoProto')

/** TensorProto.DataLocation.EXTERNAL: the weights live in a separate file next to the model. */
const EXTERNAL = 1
/** TensorProto.DataType.FLOAT. */
const FLOAT = 1

export interface GraphNode {
  opType: string
  inputs: string[]
  outputs: string[]
  name: string
}

/** What this module reads of a model's main graph. */
export interface GraphSummary {
  nodes: GraphNode[]
  /** Names of the weights (constant tensors). */
  initializers: Set<string>
  inputs: string[]
  outputs: string[]
  /** Some weights are stored in external files (the model cannot be edited and loaded from memory). */
  externalData: boolean
}

interface DecodedValueInfo {
  name?: string
  type?: unknown
}
interface DecodedGraph {
  node?: { input?: string[]; output?: string[]; name?: string; opType?: string }[]
  initializer?: { name?: string; dataLocation?: number }[]
  input?: DecodedValueInfo[]
  output?: DecodedValueInfo[]
  valueInfo?: DecodedValueInfo[]
}

function decodeGraph(model: Uint8Array): DecodedGraph {
  let m: { graph?: DecodedGraph }
  try {
    m = ModelProto.decode(model) as unknown as { graph?: DecodedGraph }
  } catch (e) {
    throw new Error(`not an ONNX model (${(e as Error).message})`)
  }
  if (!m.graph) throw new Error('not an ONNX model (no graph)')
  return m.graph
}

/** Reads the main graph's nodes, weights, inputs and outputs. */
export function readGraph(model: Uint8Array): GraphSummary {
  const g = decodeGraph(model)
  const initializers = new Set((g.initializer ?? []).map((t) => t.name ?? ''))
  return {
    nodes: (g.node ?? []).map((n) => ({ opType: n.opType ?? '', inputs: n.input ?? [], outputs: n.output ?? [], name: n.name ?? '' })),
    initializers,
    inputs: (g.input ?? []).map((v) => v.name ?? '').filter((n) => !initializers.has(n)),
    outputs: (g.output ?? []).map((v) => v.name ?? ''),
    externalData: (g.initializer ?? []).some((t) => t.dataLocation === EXTERNAL),
  }
}

/** Calls `each(field, wireType, start, end)` for every top-level field of a protobuf message. */
function scanFields(buf: Uint8Array, each: (field: number, wire: number, start: number, end: number, reader: protobuf.Reader) => void): void {
  const r = protobuf.Reader.create(buf)
  while (r.pos < r.len) {
    const start = r.pos
    const tag = r.uint32()
    const field = tag >>> 3
    const wire = tag & 7
    const bodyStart = r.pos
    r.skipType(wire)
    const end = r.pos
    r.pos = bodyStart
    each(field, wire, start, end, r)
    r.pos = end
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** A length-delimited field: tag, length, bytes. */
function delimited(field: number, body: Uint8Array): Uint8Array {
  const head = protobuf.Writer.create()
    .uint32((field << 3) | 2)
    .uint32(body.length)
    .finish()
  return concat([head, body])
}

/**
 * Returns a copy of the model whose graph outputs are exactly `names` (in that order); every other
 * byte of the model is kept. A tensor that has a type in the graph (as an output, input or
 * value_info entry) keeps it; one without is declared float32 of unknown shape, which onnxruntime
 * completes by its own shape inference.
 */
export function withGraphOutputs(model: Uint8Array, names: string[]): Uint8Array {
  const g = decodeGraph(model)
  const known = new Map<string, DecodedValueInfo>()
  for (const v of [...(g.valueInfo ?? []), ...(g.input ?? []), ...(g.output ?? [])]) if (v.name) known.set(v.name, v)
  const outputs = names.map((name) => {
    const v = known.get(name)
    const info = v?.type ? { name, type: v.type } : { name, type: { tensorType: { elemType: FLOAT } } }
    return delimited(12, ValueInfoProto.encode(ValueInfoProto.fromObject(info)).finish())
  })
  const parts: Uint8Array[] = []
  scanFields(model, (field, wire, start, end, r) => {
    if (field !== 7 || wire !== 2) {
      parts.push(model.subarray(start, end))
      return
    }
    const graph = r.bytes()
    const gparts: Uint8Array[] = []
    scanFields(graph, (f, _w, s, e) => {
      if (f !== 12) gparts.push(graph.subarray(s, e))
    })
    parts.push(delimited(7, concat([...gparts, ...outputs])))
  })
  return concat(parts)
}
