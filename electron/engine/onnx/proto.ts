/**
 * A minimal writer for ONNX models (protobuf wire format), so that project code can construct the
 * small graphs it runs through onnxruntime: the built-in backbone, the training loss/gradient
 * graphs, and tiny models in tests. Only the fields we emit are implemented; field numbers follow
 * onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto).
 */

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, DOUBLE: 11 } as const
export type DataTypeId = (typeof DataType)[keyof typeof DataType]

class Writer {
  private chunks: Uint8Array[] = []
  private len = 0

  private push(b: Uint8Array): void {
    this.chunks.push(b)
    this.len += b.length
  }

  varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v))
    const out: number[] = []
    while (x >= 0x80n) {
      out.push(Number(x & 0x7fn) | 0x80)
      x >>= 7n
    }
    out.push(Number(x))
    this.push(Uint8Array.from(out))
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire)
  }

  int(field: number, v: number | bigint): void {
    this.tag(field, 0)
    this.varint(v)
  }

  float(field: number, v: number): void {
    this.tag(field, 5)
    const b = new Uint8Array(4)
    new DataView(b.buffer).setFloat32(0, v, true)
    this.push(b)
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, 2)
    this.varint(b.length)
    this.push(b)
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s))
  }

  message(field: number, build: (w: Writer) => void): void {
    const w = new Writer()
    build(w)
    this.bytes(field, w.finish())
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.len)
    let o = 0
    for (const c of this.chunks) {
      out.set(c, o)
      o += c.length
    }
    return out
  }
}

/** An attribute value: number (int if integral and `int` hint, else float), arrays, string, tensor. */
export type AttrValue = { f: number } | { i: number } | { s: string } | { floats: number[] } | { ints: number[] } | { t: TensorInit }

export interface NodeInit {
  op: string
  inputs: string[]
  outputs: string[]
  name?: string
  domain?: string
  attrs?: Record<string, AttrValue>
}

export interface TensorInit {
  name: string
  dims: number[]
  /** Float32Array -> FLOAT, Float64Array -> DOUBLE, BigInt64Array -> INT64, Int32Array -> INT32. */
  data: Float32Array | Float64Array | BigInt64Array | Int32Array
}

export interface ValueInit {
  name: string
  type: DataTypeId
  /** Each entry: a fixed size, or a symbolic name such as 'N' for a dynamic axis. */
  shape: (number | string)[]
}

export interface GraphInit {
  name: string
  nodes: NodeInit[]
  initializers?: TensorInit[]
  inputs: ValueInit[]
  outputs: ValueInit[]
}

export interface ModelInit {
  graph: GraphInit
  /** Default opset 13 (note: ReduceSum takes its axes as an input from opset 13 on). */
  opset?: number
  producer?: string
  /** Free-form metadata_props (key/value), e.g. the backbone's preprocessing. */
  metadata?: Record<string, string>
}

function dataTypeOf(data: TensorInit['data']): DataTypeId {
  if (data instanceof Float32Array) return DataType.FLOAT
  if (data instanceof Float64Array) return DataType.DOUBLE
  if (data instanceof BigInt64Array) return DataType.INT64
  return DataType.INT32
}

function writeTensor(w: Writer, t: TensorInit): void {
  const count = t.dims.reduce((a, b) => a * b, 1)
  if (count !== t.data.length) {
    throw new Error(`tensor ${t.name}: dims ${JSON.stringify(t.dims)} need ${count} values, got ${t.data.length}`)
  }
  for (const d of t.dims) w.int(1, d)
  w.int(2, dataTypeOf(t.data))
  w.string(8, t.name)
  // raw_data is little-endian; typed arrays are host-endian, which is little-endian on every
  // platform we ship (x64, arm64).
  w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))
}

function writeValueInfo(w: Writer, v: ValueInit): void {
  w.string(1, v.name)
  w.message(2, (tp) =>
    tp.message(1, (tt) => {
      tt.int(1, v.type)
      tt.message(2, (sh) => {
        for (const d of v.shape) {
          sh.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)))
        }
      })
    }),
  )
}

function writeAttr(w: Writer, name: string, a: AttrValue): void {
  w.string(1, name)
  if ('f' in a) {
    w.float(2, a.f)
    w.int(20, 1)
  } else if ('i' in a) {
    w.int(3, a.i)
    w.int(20, 2)
  } else if ('s' in a) {
    w.string(4, a.s)
    w.int(20, 3)
  } else if ('t' in a) {
    w.message(5, (tw) => writeTensor(tw, a.t))
    w.int(20, 4)
  } else if ('floats' in a) {
    for (const f of a.floats) w.float(7, f)
    w.int(20, 6)
  } else {
    for (const i of a.ints) w.int(8, i)
    w.int(20, 7)
  }
}

/** Serialises a model to ONNX bytes that `InferenceSession.create(bytes)` accepts. */
export function buildModel(m: ModelInit): Uint8Array {
  const w = new Writer()
  w.int(1, 8) // ir_version 8 (ONNX 1.13+), valid for opsets up to 18
  w.string(2, m.producer ?? 'seed-qc')
  w.message(7, (g) => {
    for (const n of m.graph.nodes) {
      g.message(1, (nw) => {
        for (const i of n.inputs) nw.string(1, i)
        for (const o of n.outputs) nw.string(2, o)
        if (n.name) nw.string(3, n.name)
        nw.string(4, n.op)
        for (const [k, v] of Object.entries(n.attrs ?? {})) nw.message(5, (aw) => writeAttr(aw, k, v))
        if (n.domain) nw.string(7, n.domain)
      })
    }
    g.string(2, m.graph.name)
    for (const t of m.graph.initializers ?? []) g.message(5, (tw) => writeTensor(tw, t))
    for (const v of m.graph.inputs) g.message(11, (vw) => writeValueInfo(vw, v))
    for (const v of m.graph.outputs) g.message(12, (vw) => writeValueInfo(vw, v))
  })
  w.message(8, (o) => {
    o.string(1, '')
    o.int(2, m.opset ?? 13)
  })
  for (const [k, v] of Object.entries(m.metadata ?? {})) {
    w.message(14, (p) => {
      p.string(1, k)
      p.string(2, v)
    })
  }
  return w.finish()
}

/** Convenience: an int64 tensor initializer (shapes, axes). */
export function int64Tensor(name: string, values: number[]): TensorInit {
  return { name, dims: [values.length], data: BigInt64Array.from(values.map((v) => BigInt(v))) }
}

/** Convenience: a float32 scalar or vector initializer. */
export function floatTensor(name: string, values: number[] | Float32Array, dims?: number[]): TensorInit {
  const data = values instanceof Float32Array ? values : Float32Array.from(values)
  return { name, dims: dims ?? [data.length], data }
}
