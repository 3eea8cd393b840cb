import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { encodeNpy, parseNpy, readNpy, writeNpy } from '../../../electron/engine/util/npy.ts'

/** Builds .npy bytes by hand, independently of encodeNpy. */
function npy(opts: { version?: 1 | 2 | 3; descr: string; fortran?: boolean; shape: string; body: Buffer }): Buffer {
  const v = opts.version ?? 1
  const header = `{'descr': '${opts.descr}', 'fortran_order': ${opts.fortran ? 'True' : 'False'}, 'shape': (${opts.shape}), }\n`
  const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, v, 0])
  const len = Buffer.alloc(v === 1 ? 2 : 4)
  if (v === 1) len.writeUInt16LE(header.length)
  else len.writeUInt32LE(header.length)
  return Buffer.concat([pre, len, Buffer.from(header, 'latin1'), opts.body])
}
function f32(values: number[], le = true): Buffer {
  const b = Buffer.alloc(values.length * 4)
  values.forEach((x, i) => (le ? b.writeFloatLE(x, i * 4) : b.writeFloatBE(x, i * 4)))
  return b
}
function f64(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 8)
  values.forEach((x, i) => b.writeDoubleLE(x, i * 8))
  return b
}

test('reads float32 and float64 in header versions 1, 2 and 3', () => {
  const vals = [1, 2.5, -3, 4, 5, 6]
  for (const version of [1, 2, 3] as const) {
    const a = parseNpy(npy({ version, descr: '<f4', shape: '2, 3', body: f32(vals) }))
    assert.deepEqual(a.shape, [2, 3])
    assert.deepEqual([...a.data], vals)
  }
  const d = parseNpy(npy({ descr: '<f8', shape: '3, 2', body: f64([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) }))
  assert.deepEqual(d.shape, [3, 2])
  assert.ok(Math.abs(d.data[0]! - 0.1) < 1e-7 && Math.abs(d.data[5]! - 0.6) < 1e-7)
  const be = parseNpy(npy({ descr: '>f4', shape: '2,', body: f32([7, 8], false) }))
  assert.deepEqual([...be.data], [7, 8])
})

test('transposes a Fortran-order matrix into row order', () => {
  // Column-major 2 x 3 [[1,2,3],[4,5,6]] is stored 1,4,2,5,3,6.
  const a = parseNpy(npy({ descr: '<f4', fortran: true, shape: '2, 3', body: f32([1, 4, 2, 5, 3, 6]) }))
  assert.deepEqual([...a.data], [1, 2, 3, 4, 5, 6])
})

test('clear errors for bad magic, wrong dtype, truncated data', () => {
  assert.throws(() => parseNpy(Buffer.from('hello world, not numpy'), 'x.npy'), /x\.npy: not a \.npy file \(bad magic/)
  assert.throws(() => parseNpy(npy({ descr: '<i8', shape: '1,', body: Buffer.alloc(8) }), 'x.npy'), /x\.npy: unsupported dtype '<i8'/)
  assert.throws(
    () => parseNpy(npy({ descr: '<f4', shape: '10, 3', body: f32([1, 2, 3]) }), 'x.npy'),
    /x\.npy: truncated data: shape \(10, 3\) needs 120 bytes, file has 12/,
  )
  const dir = mkdtempSync(join(tmpdir(), 'qc-npy-'))
  assert.throws(() => readNpy(join(dir, 'missing.npy')), /missing\.npy: cannot read \(ENOENT\)/)
})

test('writeNpy output is read back, data 64-byte aligned', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-npy-'))
  const f = join(dir, 'x.npy')
  const data = Float32Array.from([1.5, -2, 3, 4, 5, 6.25])
  writeNpy(f, data, [3, 2])
  const a = readNpy(f)
  assert.deepEqual(a.shape, [3, 2])
  assert.deepEqual([...a.data], [...data])
  const bytes = encodeNpy(data, [3, 2])
  assert.equal((bytes.length - data.byteLength) % 64, 0)
  assert.throws(() => writeNpy(f, data, [3, 2]), /already exists/)
  writeFileSync(join(dir, 'ok'), '')
})

test('an adopted buffer is viewed, not copied; without adopt, or from a shared pool, the data are a copy', () => {
  const bytes = encodeNpy(Float32Array.from([1, 2, 3, 4]), [2, 2])
  const own = new Uint8Array(bytes.length)
  own.set(bytes)
  const viewed = parseNpy(own, 'x.npy', { adopt: true })
  assert.equal(viewed.data.buffer, own.buffer)
  assert.deepEqual([...viewed.data], [1, 2, 3, 4])
  assert.notEqual(parseNpy(own, 'x.npy').data.buffer, own.buffer)
  // A slice of a larger ArrayBuffer (as a pooled Buffer is) is never adopted.
  const big = new Uint8Array(bytes.length + 64)
  big.set(bytes, 64)
  const part = big.subarray(64)
  assert.notEqual(parseNpy(part, 'x.npy', { adopt: true }).data.buffer, big.buffer)
  // readNpy adopts the file's bytes (a file over 4 KB: smaller reads come from Node's pool).
  const values = Float32Array.from({ length: 4096 }, (_, i) => i / 7)
  const file = encodeNpy(values, [1024, 4])
  const dir = mkdtempSync(join(tmpdir(), 'qc-npy-'))
  writeFileSync(join(dir, 'y.npy'), file)
  const r = readNpy(join(dir, 'y.npy'))
  assert.deepEqual(r.data, values)
  assert.equal(r.data.byteOffset, file.length - values.byteLength)
})

test('matches numpy when python3 with numpy is present', { skip: !hasNumpy() && 'python3/numpy not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-npy-'))
  const f = join(dir, 'np.npy')
  execFileSync('python3', [
    '-c',
    `import numpy as np; np.save(${JSON.stringify(f)}, np.asfortranarray(np.arange(12, dtype=np.float64).reshape(4, 3) / 7))`,
  ])
  const a = readNpy(f)
  assert.deepEqual(a.shape, [4, 3])
  for (let i = 0; i < 12; i++) assert.ok(Math.abs(a.data[i]! - i / 7) < 1e-6)
  const g = join(dir, 'ours.npy')
  writeNpy(g, Float32Array.from([1, 2, 3, 4]), [2, 2])
  const out = execFileSync('python3', ['-c', `import numpy as np; a = np.load(${JSON.stringify(g)}); print(a.dtype, a.shape, a.sum())`])
    .toString()
    .trim()
  assert.equal(out, 'float32 (2, 2) 10.0')
})

function hasNumpy(): boolean {
  try {
    execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
