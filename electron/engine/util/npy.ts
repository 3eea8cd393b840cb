/**
 * NumPy .npy files (format spec: numpy.lib.format, versions 1.0, 2.0 and 3.0). Read: little- or
 * big-endian float32/float64, C order, or Fortran order for 2-D arrays (transposed on read).
 * Write: float32, little-endian, C order, version 1.0.
 */
import { readFileSync } from 'node:fs'
import { writeFileAtomic } from './atomic.ts'

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59] // \x93NUMPY

export interface NpyArray {
  /** Values converted to float32, C (row-major) order. */
  data: Float32Array
  shape: number[]
  /** The dtype as stored, e.g. '<f4'. */
  dtype: string
}

/**
 * Parses .npy bytes; `file` labels error messages. With `adopt`, the caller hands `buf` over: an
 * aligned little-endian float32 array in C order is then returned as a view on it, not a copy
 * (readNpy: a 1M x 512 file is 2 GB, the copy another 2 GB).
 */
export function parseNpy(buf: Uint8Array, file = '<npy>', opts: { adopt?: boolean } = {}): NpyArray {
  if (buf.length < 10 || MAGIC.some((b, i) => buf[i] !== b)) {
    throw new Error(`${file}: not a .npy file (bad magic; expected \\x93NUMPY)`)
  }
  const major = buf[6]!
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  let headerLen: number
  let headerStart: number
  if (major === 1) {
    headerLen = dv.getUint16(8, true)
    headerStart = 10
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new Error(`${file}: truncated .npy header`)
    headerLen = dv.getUint32(8, true)
    headerStart = 12
  } else {
    throw new Error(`${file}: unsupported .npy format version ${major}.${buf[7]}`)
  }
  if (headerStart + headerLen > buf.length) throw new Error(`${file}: truncated .npy header`)
  // v3 allows utf-8 in the header; v1/v2 are latin-1, which ASCII headers satisfy either way.
  const header = Buffer.from(buf.buffer, buf.byteOffset + headerStart, headerLen).toString(major === 3 ? 'utf8' : 'latin1')
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1]
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1]
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1]
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    // Not echoed: whatever the file holds stays out of error messages.
    throw new Error(`${file}: malformed .npy header (no descr, fortran_order and shape)`)
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const v = Number(s.replace(/L$/, ''))
      if (!Number.isInteger(v) || v < 0) throw new Error(`${file}: malformed shape in .npy header (dimensions must be whole numbers >= 0)`)
      return v
    })
  const m = /^([<>|=])f([48])$/.exec(descr)
  if (!m) {
    throw new Error(
      `${file}: unsupported dtype${/^[<>|=]?[a-zA-Z]\d{0,2}$/.test(descr) ? ` '${descr}'` : ''} (expected float32 '<f4' or float64 '<f8')`,
    )
  }
  const itemSize = Number(m[2])
  // '=' is native order; numpy writes '<' on little-endian machines, which is all we run on.
  const little = m[1] !== '>'
  const count = shape.reduce((a, b) => a * b, 1)
  const dataStart = headerStart + headerLen
  const need = count * itemSize
  const have = buf.length - dataStart
  if (have < need) {
    throw new Error(`${file}: truncated data: shape (${shape.join(', ')}) needs ${need} bytes, file has ${have}`)
  }
  const aligned = itemSize === 4 && little && (buf.byteOffset + dataStart) % 4 === 0
  // Only a buffer that owns its whole ArrayBuffer is adopted (a small Buffer may share a pool).
  if (aligned && opts.adopt && fortran !== 'True' && buf.byteLength === buf.buffer.byteLength) {
    return { data: new Float32Array(buf.buffer, buf.byteOffset + dataStart, count), shape, dtype: descr }
  }
  let data = new Float32Array(count)
  if (aligned) {
    data.set(new Float32Array(buf.buffer, buf.byteOffset + dataStart, count))
  } else {
    for (let i = 0; i < count; i++) {
      const off = dataStart + i * itemSize
      data[i] = itemSize === 4 ? dv.getFloat32(off, little) : dv.getFloat64(off, little)
    }
  }
  if (fortran === 'True' && shape.length > 1) {
    if (shape.length !== 2)
      throw new Error(`${file}: Fortran-order arrays of rank ${shape.length} are not supported (save with np.ascontiguousarray)`)
    // Column-major n x d -> row-major: element (i, j) sits at j * n + i.
    const [n, d] = shape as [number, number]
    const t = new Float32Array(count)
    for (let j = 0; j < d; j++) for (let i = 0; i < n; i++) t[i * d + j] = data[j * n + i]!
    data = t
  }
  return { data, shape, dtype: descr }
}

/** Reads a .npy file (see parseNpy). */
export function readNpy(file: string): NpyArray {
  let buf: Buffer
  try {
    buf = readFileSync(file)
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
  return parseNpy(buf, file, { adopt: true })
}

/** Encodes a float32 array as .npy (v1.0, '<f4', C order). */
export function encodeNpy(data: Float32Array, shape: number[]): Buffer {
  const count = shape.reduce((a, b) => a * b, 1)
  if (count !== data.length) throw new Error(`encodeNpy: shape (${shape.join(', ')}) has ${count} elements, data has ${data.length}`)
  const shapeText = shape.length === 1 ? `${shape[0]},` : shape.join(', ')
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shapeText}), }`
  // Pad with spaces so the data starts on a 64-byte boundary, header ending in '\n' (spec).
  const total = 10 + header.length + 1
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n'
  const out = Buffer.alloc(10 + header.length + data.byteLength)
  out.set(MAGIC, 0)
  out[6] = 1
  out[7] = 0
  out.writeUInt16LE(header.length, 8)
  out.write(header, 10, 'latin1')
  const le = new DataView(out.buffer, out.byteOffset + 10 + header.length, data.byteLength)
  for (let i = 0; i < data.length; i++) le.setFloat32(i * 4, data[i]!, true)
  return out
}

/** Writes a float32 .npy file atomically. */
export function writeNpy(file: string, data: Float32Array, shape: number[], opts: { force?: boolean } = {}): void {
  writeFileAtomic(file, encodeNpy(data, shape), opts)
}
