import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildModel, DataType, floatTensor, type GraphInit } from '../../../electron/engine/onnx/proto.ts'
import { openDb } from '../../../electron/engine/store/db.ts'
import { ensureBackbone, inspectModel, listBackbones, loadBackbone, registerBackbone } from '../../../electron/engine/backbone/backbone.ts'
import type { PreprocessSpec } from '../../../electron/engine/backbone/preprocess.ts'

const tmp = (): string => mkdtempSync(join(tmpdir(), 'qc-bb-'))

function writeModel(dir: string, name: string, graph: GraphInit): string {
  const file = join(dir, name)
  writeFileSync(file, buildModel({ graph }))
  return file
}

/** Deterministic pseudo-random numbers in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let a = seed
  return Float32Array.from({ length: n }, () => {
    a = (a * 1103515245 + 12345) % 2147483648
    return (a / 2147483648) * 2 - 1
  })
}

const W = values(2 * 1 * 2 * 2, 7) // conv weight [2,1,2,2]
const B = Float32Array.of(0.25, -0.5)

/** N x 1 x 4 x 4 -> Conv 2x2 (2 filters, bias) -> N x 2 x 3 x 3 (4-D: the loader must pool it). */
const convGraph: GraphInit = {
  name: 'conv',
  nodes: [{ op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['y'] }],
  initializers: [floatTensor('w', W, [2, 1, 2, 2]), floatTensor('b', B)],
  inputs: [{ name: 'x', type: DataType.FLOAT, shape: ['N', 1, 4, 4] }],
  outputs: [{ name: 'y', type: DataType.FLOAT, shape: ['N', 2, 3, 3] }],
}

/** The same computation by hand: valid 2x2 convolution (cross-correlation) + bias, then the mean over 3x3. */
function convByHand(x: Float32Array, count: number): Float64Array {
  const out = new Float64Array(count * 2)
  for (let i = 0; i < count; i++) {
    for (let f = 0; f < 2; f++) {
      let sum = 0
      for (let r = 0; r < 3; r++) {
        for (let c = 0; c < 3; c++) {
          let v = B[f]!
          for (let dr = 0; dr < 2; dr++) for (let dc = 0; dc < 2; dc++) v += W[f * 4 + dr * 2 + dc]! * x[i * 16 + (r + dr) * 4 + (c + dc)]!
          sum += v
        }
      }
      out[i * 2 + f] = sum / 9
    }
  }
  return out
}

const graySpec: PreprocessSpec = {
  width: 4,
  height: 4,
  resize: 'stretch',
  channels: 1,
  channelOrder: 'rgb',
  scale: 1 / 255,
  mean: [0],
  std: [1],
  layout: 'nchw',
}

test('a 4-D conv output is average-pooled and matches a hand computation; registration round-trips', async () => {
  const dir = tmp()
  try {
    const file = writeModel(dir, 'conv.onnx', convGraph)
    const info = await inspectModel(file)
    assert.equal(info.layout, 'nchw')
    assert.equal(info.channels, 1)
    assert.equal(info.width, 4)
    assert.equal(info.pooled, true)
    assert.equal(info.dim, 2)
    assert.equal(info.fixedBatch, null)

    const db = openDb(join(dir, 'p.qcdb'))
    const row = await registerBackbone(db, { name: 'conv', kind: 'file', modelPath: file, preprocess: graySpec })
    assert.equal(row.dim, 2)
    assert.equal(row.inputName, 'x')
    assert.deepEqual(row.inputShape, ['N', 1, 4, 4])
    assert.deepEqual(row.preprocess, graySpec)
    assert.match(row.modelSha256 ?? '', /^[0-9a-f]{64}$/)
    assert.deepEqual(
      listBackbones(db).map((b) => b.name),
      ['conv'],
    )
    // Registering the same file again returns the same row.
    assert.equal((await registerBackbone(db, { name: 'conv', kind: 'file', modelPath: file, preprocess: graySpec })).id, row.id)

    const bb = await loadBackbone(db, 'conv')
    assert.equal(bb.executionProvider, 'cpu')
    const x = values(3 * 16, 11)
    const got = await bb.embed(x, 3)
    const want = convByHand(x, 3)
    assert.equal(got.length, 6)
    for (let i = 0; i < 6; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-5, `feature ${i}: ${got[i]} vs ${want[i]}`)
    await bb.release()

    // A swapped model file is noticed: features stored under this backbone would no longer match.
    writeModel(dir, 'conv.onnx', { ...convGraph, initializers: [floatTensor('w', values(8, 99), [2, 1, 2, 2]), floatTensor('b', B)] })
    await assert.rejects(loadBackbone(db, 'conv'), /has changed since it was registered/)
    await assert.rejects(registerBackbone(db, { name: 'conv', kind: 'file', modelPath: file }), /already registered with a different model file/)
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('NHWC input is recognised, a fixed batch of 1 is honoured, rank-2 output is used as is', async () => {
  const dir = tmp()
  try {
    // N x 4 x 4 x 3 -> Transpose to NCHW -> GlobalAveragePool -> Flatten: features = channel means.
    const file = writeModel(dir, 'nhwc.onnx', {
      name: 'nhwc',
      nodes: [
        { op: 'Transpose', inputs: ['x'], outputs: ['t'], attrs: { perm: { ints: [0, 3, 1, 2] } } },
        { op: 'GlobalAveragePool', inputs: ['t'], outputs: ['g'] },
        { op: 'Flatten', inputs: ['g'], outputs: ['y'] },
      ],
      inputs: [{ name: 'x', type: DataType.FLOAT, shape: [1, 4, 4, 3] }],
      outputs: [{ name: 'y', type: DataType.FLOAT, shape: [1, 3] }],
    })
    const info = await inspectModel(file)
    assert.equal(info.layout, 'nhwc')
    assert.equal(info.channels, 3)
    assert.equal(info.fixedBatch, 1)
    assert.equal(info.pooled, false)
    const db = openDb(join(dir, 'p.qcdb'))
    await registerBackbone(db, {
      name: 'nhwc',
      kind: 'file',
      modelPath: file,
      preprocess: { ...graySpec, channels: 3, mean: [0, 0, 0], std: [1, 1, 1], layout: 'nhwc' },
    })
    const bb = await loadBackbone(db, 'nhwc')
    assert.equal(bb.fixedBatch, 1)
    const x = values(3 * 48, 5)
    const got = await bb.embed(x, 3)
    for (let i = 0; i < 3; i++) {
      for (let c = 0; c < 3; c++) {
        let s = 0
        for (let p = 0; p < 16; p++) s += x[i * 48 + p * 3 + c]!
        assert.ok(Math.abs(got[i * 3 + c]! - s / 16) < 1e-5)
      }
    }
    await bb.release()
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('dynamic spatial dims default to 224; the default preprocessing of a colour model is ImageNet', async () => {
  const dir = tmp()
  try {
    const file = writeModel(dir, 'dyn.onnx', {
      name: 'dyn',
      nodes: [
        { op: 'GlobalAveragePool', inputs: ['x'], outputs: ['g'] },
        { op: 'Flatten', inputs: ['g'], outputs: ['y'] },
      ],
      inputs: [{ name: 'x', type: DataType.FLOAT, shape: ['N', 3, 'H', 'W'] }],
      outputs: [{ name: 'y', type: DataType.FLOAT, shape: ['N', 3] }],
    })
    const db = openDb(join(dir, 'p.qcdb'))
    const row = await ensureBackbone(db, file)
    assert.equal(row.name, 'dyn')
    assert.equal(row.kind, 'file')
    assert.equal(row.preprocess?.width, 224)
    assert.equal(row.preprocess?.height, 224)
    assert.deepEqual(row.preprocess?.mean, [0.485, 0.456, 0.406])
    // The same file again is the same backbone.
    assert.equal((await ensureBackbone(db, file)).id, row.id)
    await assert.rejects(ensureBackbone(db, 'no-such-thing'), /unknown backbone 'no-such-thing'/)
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('models that are not image-to-vector models are refused with the reason', async () => {
  const dir = tmp()
  try {
    const id = (name: string, inputs: GraphInit['inputs'], outShape: (number | string)[], nodes?: GraphInit['nodes']): string =>
      writeModel(dir, `${name}.onnx`, {
        name,
        nodes: nodes ?? [{ op: 'Identity', inputs: [inputs[0]!.name], outputs: ['y'] }],
        inputs,
        outputs: [{ name: 'y', type: DataType.FLOAT, shape: outShape }],
      })
    const tabular = id('tabular', [{ name: 'x', type: DataType.FLOAT, shape: ['N', 10] }], ['N', 10])
    await assert.rejects(inspectModel(tabular), /tabular\.onnx: not usable as an image backbone: input 'x' has shape \[N, 10\] \(rank 2\)/)

    const fiveCh = id('five', [{ name: 'x', type: DataType.FLOAT, shape: ['N', 5, 8, 8] }], ['N', 5, 8, 8])
    await assert.rejects(inspectModel(fiveCh), /neither axis 1 nor axis 3 is 1 or 3 channels/)

    const two = writeModel(dir, 'two.onnx', {
      name: 'two',
      nodes: [{ op: 'Add', inputs: ['a', 'b'], outputs: ['y'] }],
      inputs: [
        { name: 'a', type: DataType.FLOAT, shape: ['N', 3, 8, 8] },
        { name: 'b', type: DataType.FLOAT, shape: ['N', 3, 8, 8] },
      ],
      outputs: [{ name: 'y', type: DataType.FLOAT, shape: ['N', 3, 8, 8] }],
    })
    await assert.rejects(inspectModel(two), /takes 2 inputs \(a, b\)/)

    const ints = writeModel(dir, 'ints.onnx', {
      name: 'ints',
      nodes: [{ op: 'Cast', inputs: ['x'], outputs: ['y'], attrs: { to: { i: DataType.FLOAT } } }],
      inputs: [{ name: 'x', type: DataType.INT64, shape: ['N', 3, 8, 8] }],
      outputs: [{ name: 'y', type: DataType.FLOAT, shape: ['N', 3, 8, 8] }],
    })
    await assert.rejects(inspectModel(ints), /input 'x' is int64; an image backbone takes float32/)

    // N x 3 x 8 x 8 -> N x 3 x 64: rank 3 cannot be made a vector.
    const tokens = writeModel(dir, 'tokens.onnx', {
      name: 'tokens',
      nodes: [{ op: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] }],
      initializers: [{ name: 'shape', dims: [3], data: BigInt64Array.of(0n, 3n, 64n) }],
      inputs: [{ name: 'x', type: DataType.FLOAT, shape: ['N', 3, 8, 8] }],
      outputs: [{ name: 'y', type: DataType.FLOAT, shape: ['N', 3, 64] }],
    })
    await assert.rejects(inspectModel(tokens), /output 'y' has rank 3 \(\[N, 3, 64\]\); a feature vector needs rank 2/)

    writeFileSync(join(dir, 'junk.onnx'), 'not a model')
    await assert.rejects(inspectModel(join(dir, 'junk.onnx')), /junk\.onnx: onnxruntime cannot load this model/)
    await assert.rejects(inspectModel(join(dir, 'missing.onnx')), /missing\.onnx: model file not found/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('an execution provider this runtime lacks falls back to cpu with a logged reason', async () => {
  const dir = tmp()
  try {
    const file = writeModel(dir, 'conv.onnx', convGraph)
    const db = openDb(join(dir, 'p.qcdb'))
    await registerBackbone(db, { name: 'conv', kind: 'file', modelPath: file, preprocess: graySpec })
    const logs: string[] = []
    const bb = await loadBackbone(db, 'conv', { executionProvider: 'coreml', log: (m) => logs.push(m) })
    assert.equal(bb.executionProvider, 'cpu')
    assert.equal(logs.length, 1)
    assert.match(logs[0]!, /execution provider 'coreml' .*using cpu/)
    await bb.release()
    await assert.rejects(loadBackbone(db, 'conv', { executionProvider: 'tpu' }), /unknown execution provider 'tpu'/)
    await assert.rejects(loadBackbone(db, 'nope'), /no backbone 'nope' in this project \(have: conv\)/)
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
