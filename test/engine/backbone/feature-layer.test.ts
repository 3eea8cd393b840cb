/**
 * Penultimate features on small hand-built graphs of each shape (issue 12 part 1): a Gemm after
 * the Flatten of a 4-D tensor, a MatMul after a 2-D tensor, a named tensor, a graph with no
 * classifier head. The expected features come from a second model, built here with the feature
 * tensor as its own output and run directly by onnxruntime, then pooled in the test.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { buildModel, DataType, floatTensor, int64Tensor, type GraphInit, type NodeInit } from '../../../electron/engine/onnx/proto.ts'
import { readGraph, withGraphOutputs } from '../../../electron/engine/onnx/graph.ts'
import { findHeadInput, prepareFeatureModel } from '../../../electron/engine/backbone/feature-layer.ts'
import { openDb } from '../../../electron/engine/store/db.ts'
import { ensureBackbone, inspectModel, loadBackbone } from '../../../electron/engine/backbone/backbone.ts'

const N = 'N'
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n)
  let s = seed
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0
    out[i] = ((s >>> 8) / 2 ** 24 - 0.5) * 0.6
  }
  return out
}

/** x [N,3,8,8] -> Conv (4 filters) -> Relu -> Flatten [N,256] -> Gemm [N,5] -> Softmax. Feature: the Relu output, pooled. */
function convGemm(outputs: { name: string; shape: (number | string)[] }[]): GraphInit {
  const nodes: NodeInit[] = [
    { op: 'Conv', inputs: ['x', 'w'], outputs: ['conv'], attrs: { pads: { ints: [1, 1, 1, 1] } } },
    { op: 'Relu', inputs: ['conv'], outputs: ['act'] },
    { op: 'Flatten', inputs: ['act'], outputs: ['flat'] },
    { op: 'Gemm', inputs: ['flat', 'fc', 'fc_b'], outputs: ['logits'], attrs: { transB: { i: 1 } } },
    { op: 'Softmax', inputs: ['logits'], outputs: ['prob'] },
  ]
  return {
    name: 'conv-gemm',
    nodes,
    initializers: [
      floatTensor('w', values(4 * 3 * 9, 1), [4, 3, 3, 3]),
      floatTensor('fc', values(5 * 256, 2), [5, 256]),
      floatTensor('fc_b', values(5, 3)),
    ],
    inputs: [{ name: 'x', type: DataType.FLOAT, shape: [N, 3, 8, 8] }],
    outputs: outputs.map((o) => ({ name: o.name, type: DataType.FLOAT, shape: o.shape })),
  }
}

/** x [N,3,4,4] -> ReduceMean over H,W [N,3] -> Relu -> MatMul [N,6] -> Add bias. Feature: the Relu output (2-D). */
function meanMatMul(outputs: { name: string; shape: (number | string)[] }[]): GraphInit {
  return {
    name: 'mean-matmul',
    nodes: [
      { op: 'ReduceMean', inputs: ['x'], outputs: ['m'], attrs: { axes: { ints: [2, 3] }, keepdims: { i: 0 } } },
      { op: 'Mul', inputs: ['m', 'k'], outputs: ['mk'] },
      { op: 'Relu', inputs: ['mk'], outputs: ['feat'] },
      { op: 'MatMul', inputs: ['feat', 'W'], outputs: ['z'] },
      { op: 'Add', inputs: ['z', 'b'], outputs: ['logits'] },
    ],
    initializers: [floatTensor('k', [3, -2, 5]), floatTensor('W', values(18, 4), [3, 6]), floatTensor('b', values(6, 5))],
    inputs: [{ name: 'x', type: DataType.FLOAT, shape: [N, 3, 4, 4] }],
    outputs: outputs.map((o) => ({ name: o.name, type: DataType.FLOAT, shape: o.shape })),
  }
}

/** x [N,3,4,4] -> GlobalAveragePool [N,3,1,1]: no classifier head. */
const noHead: GraphInit = {
  name: 'no-head',
  nodes: [
    { op: 'Reshape', inputs: ['x', 'shape'], outputs: ['same'] },
    { op: 'GlobalAveragePool', inputs: ['same'], outputs: ['y'] },
  ],
  initializers: [int64Tensor('shape', [-1, 3, 4, 4])],
  inputs: [{ name: 'x', type: DataType.FLOAT, shape: [N, 3, 4, 4] }],
  outputs: [{ name: 'y', type: DataType.FLOAT, shape: [N, 3, 1, 1] }],
}

async function runDirect(graph: GraphInit, input: Float32Array, dims: number[], output: string): Promise<ort.Tensor> {
  const s = await ort.InferenceSession.create(buildModel({ graph }))
  try {
    return (await s.run({ x: new ort.Tensor('float32', input, dims) }, [output]))[output] as ort.Tensor
  } finally {
    await s.release()
  }
}

function gap(t: ort.Tensor): Float64Array {
  const [n, c, h, w] = t.dims as [number, number, number, number]
  const src = t.data as Float32Array
  const out = new Float64Array(n * c)
  for (let i = 0; i < n * c; i++) {
    let s = 0
    for (let p = 0; p < h * w; p++) s += src[i * h * w + p]!
    out[i] = s / (h * w)
  }
  return out
}

function assertClose(actual: Float32Array, expected: ArrayLike<number>, tol = 1e-5): void {
  assert.equal(actual.length, expected.length)
  for (let i = 0; i < actual.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `[${i}] ${actual[i]} vs ${expected[i]}`)
}

test('the graph reader finds the head; the edit keeps the rest of the file and makes the feature an output', () => {
  const bytes = buildModel({ graph: convGemm([{ name: 'prob', shape: [N, 5] }]) })
  const g = readGraph(bytes)
  assert.deepEqual(g.outputs, ['prob'])
  assert.deepEqual(g.inputs, ['x'])
  assert.deepEqual(findHeadInput(g), { head: 'Gemm', input: 'flat', source: 'act' })
  const edited = withGraphOutputs(bytes, ['act'])
  const e = readGraph(edited)
  assert.deepEqual(e.outputs, ['act'])
  assert.deepEqual(
    e.nodes.map((n) => n.opType),
    g.nodes.map((n) => n.opType),
  )
  // Everything but the outputs is the same bytes: the weights survive untouched.
  assert.ok(Buffer.from(edited).includes(Buffer.from(floatTensor('fc', values(5 * 256, 2)).data.buffer)))
  assert.equal(findHeadInput(readGraph(buildModel({ graph: noHead }))), null)
})

test('Gemm after Flatten of a 4-D tensor: the tensor before flattening, globally average-pooled', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-fl-'))
  try {
    const file = join(dir, 'conv-gemm.onnx')
    writeFileSync(file, buildModel({ graph: convGemm([{ name: 'prob', shape: [N, 5] }]) }))
    const before = readFileSync(file)
    const info = await inspectModel(file)
    assert.equal(info.featureLayer, 'penultimate')
    assert.equal(info.outputName, 'act')
    assert.equal(info.pool, 'gap')
    assert.equal(info.dim, 4, 'the 4 channels, not 5 logits and not 256 flattened values')

    const db = openDb(join(dir, 'p.qcdb'))
    const row = await ensureBackbone(db, file)
    assert.equal(row.dim, 4)
    assert.equal(row.outputName, 'act')
    assert.equal(row.featureLayer, 'penultimate')
    assert.equal(row.featurePool, 'gap')
    const bb = await loadBackbone(db, row.id)
    const x = values(2 * 3 * 64, 9)
    const feats = await bb.embed(x, 2)
    await bb.release()
    const direct = await runDirect(convGemm([{ name: 'act', shape: [N, 4, 8, 8] }]), x, [2, 3, 8, 8], 'act')
    assertClose(feats, gap(direct))
    assert.deepEqual(readFileSync(file), before, 'the model file is never changed')

    // The same file with its output asked for is another backbone (the logits), registered beside it.
    const logits = await ensureBackbone(db, file, { featureLayer: 'output' })
    assert.notEqual(logits.id, row.id)
    assert.equal(logits.dim, 5)
    assert.equal(logits.name, 'conv-gemm@output')
    // Asking again finds each.
    assert.equal((await ensureBackbone(db, file)).id, row.id)
    assert.equal((await ensureBackbone(db, file, { featureLayer: 'output' })).id, logits.id)
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('MatMul after a 2-D tensor: that tensor as it is', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-fl-'))
  try {
    const file = join(dir, 'mean-matmul.onnx')
    writeFileSync(file, buildModel({ graph: meanMatMul([{ name: 'logits', shape: [N, 6] }]) }))
    const db = openDb(join(dir, 'p.qcdb'))
    const row = await ensureBackbone(db, file, { featureLayer: 'penultimate' })
    assert.equal(row.outputName, 'feat')
    assert.equal(row.featurePool, 'none')
    assert.equal(row.dim, 3)
    const bb = await loadBackbone(db, row.id)
    const x = values(3 * 48, 11)
    const feats = await bb.embed(x, 3)
    await bb.release()
    const direct = await runDirect(meanMatMul([{ name: 'feat', shape: [N, 3] }]), x, [3, 3, 4, 4], 'feat')
    assertClose(feats, direct.data as Float32Array)
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a named tensor; a name the graph does not have is refused, naming the file and the last tensors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-fl-'))
  try {
    const file = join(dir, 'conv-gemm.onnx')
    writeFileSync(file, buildModel({ graph: convGemm([{ name: 'prob', shape: [N, 5] }]) }))
    const db = openDb(join(dir, 'p.qcdb'))
    const row = await ensureBackbone(db, file, { featureLayer: 'flat' })
    assert.equal(row.outputName, 'flat')
    assert.equal(row.featureLayer, 'flat')
    assert.equal(row.dim, 256)
    const bb = await loadBackbone(db, row.id)
    const x = values(3 * 64, 5)
    const feats = await bb.embed(x, 1)
    await bb.release()
    const direct = await runDirect(convGemm([{ name: 'flat', shape: [N, 256] }]), x, [1, 3, 8, 8], 'flat')
    assertClose(feats, direct.data as Float32Array)
    await assert.rejects(ensureBackbone(db, file, { featureLayer: 'pool9' }), (e: Error) => {
      assert.ok(e.message.startsWith(file), e.message)
      assert.match(e.message, /has no tensor 'pool9' \(the last tensors of its graph: conv, act, flat, logits, prob\)/)
      return true
    })
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('no Gemm or MatMul: penultimate is refused naming the file; by default the output is the feature', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-fl-'))
  try {
    const file = join(dir, 'no-head.onnx')
    writeFileSync(file, buildModel({ graph: noHead }))
    assert.throws(
      () => prepareFeatureModel(file, 'penultimate'),
      (e: Error) => {
        assert.ok(e.message.startsWith(`${file}: no classifier head found`), e.message)
        assert.match(e.message, /--feature-layer NAME/)
        return true
      },
    )
    const db = openDb(join(dir, 'p.qcdb'))
    await assert.rejects(
      ensureBackbone(db, file, { featureLayer: 'penultimate' }),
      new RegExp(`${file.replace(/[.]/g, '\\.')}: no classifier head found`),
    )
    const row = await ensureBackbone(db, file)
    assert.equal(row.featureLayer, 'output')
    assert.equal(row.outputName, 'y')
    assert.equal(row.dim, 3)
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
