/**
 * A minimal decoder for Windows BMP files, because sharp 0.35's prebuilt libvips has no BMP loader
 * ("unsupported image format"). Handles what scanners and industrial cameras write: BITMAPINFOHEADER
 * and later headers, uncompressed (BI_RGB) 1/4/8-bit palette, 24-bit BGR, 16/32-bit with BI_RGB or
 * BI_BITFIELDS masks, bottom-up or top-down rows. RLE-compressed BMPs are refused with a message.
 * Layout reference: Microsoft "Bitmap Storage" (BITMAPFILEHEADER, BITMAPINFOHEADER).
 */

export interface BmpHeader {
  width: number
  height: number
  bitCount: number
  compression: number
}

export interface DecodedImage {
  width: number
  height: number
  channels: 3 | 4
  data: Buffer
}

/** True when the bytes start like a BMP file ('BM'). */
export function isBmp(buf: Uint8Array): boolean {
  return buf.length >= 26 && buf[0] === 0x42 && buf[1] === 0x4d
}

/** Reads the header only (dimensions for the pixel-bomb check before decoding). */
export function bmpHeader(buf: Buffer): BmpHeader {
  if (!isBmp(buf) || buf.length < 30) throw new Error('not a BMP file')
  const dibSize = buf.readUInt32LE(14)
  if (dibSize < 40) throw new Error(`unsupported BMP header (OS/2 core header, ${dibSize} bytes)`)
  if (buf.length < 14 + 40) throw new Error('truncated BMP header')
  const width = buf.readInt32LE(18)
  const height = Math.abs(buf.readInt32LE(22))
  const bitCount = buf.readUInt16LE(28)
  const compression = buf.readUInt32LE(30)
  if (width <= 0 || height <= 0) throw new Error(`invalid BMP dimensions ${width} x ${height}`)
  return { width, height, bitCount, compression }
}

/** Decodes a BMP to interleaved RGB or RGBA bytes, rows top to bottom. */
export function decodeBmp(buf: Buffer): DecodedImage {
  const h = bmpHeader(buf)
  const { width, height, bitCount, compression } = h
  const topDown = buf.readInt32LE(22) < 0
  const dibSize = buf.readUInt32LE(14)
  const dataOffset = buf.readUInt32LE(10)
  const BI_RGB = 0
  const BI_BITFIELDS = 3
  const BI_ALPHABITFIELDS = 6
  if (compression !== BI_RGB && compression !== BI_BITFIELDS && compression !== BI_ALPHABITFIELDS) {
    throw new Error(`unsupported BMP compression ${compression} (RLE/JPEG/PNG-in-BMP)`)
  }
  if (![1, 4, 8, 16, 24, 32].includes(bitCount)) throw new Error(`unsupported BMP bit depth ${bitCount}`)
  const stride = Math.ceil((width * bitCount) / 32) * 4
  if (dataOffset + stride * height > buf.length) throw new Error('truncated BMP pixel data')

  let masks: [number, number, number, number] | undefined
  if (bitCount === 16 || bitCount === 32) {
    if (compression === BI_RGB) {
      masks = bitCount === 16 ? [0x7c00, 0x03e0, 0x001f, 0] : [0x00ff0000, 0x0000ff00, 0x000000ff, 0]
    } else {
      // Masks follow a 40-byte header, or sit inside a V4/V5 header at the same offset.
      const m = 14 + 40
      masks = [
        buf.readUInt32LE(m),
        buf.readUInt32LE(m + 4),
        buf.readUInt32LE(m + 8),
        dibSize >= 56 || compression === BI_ALPHABITFIELDS ? buf.readUInt32LE(m + 12) : 0,
      ]
    }
  }
  const palette: number[][] = []
  if (bitCount <= 8) {
    const colours = buf.readUInt32LE(46) || 1 << bitCount
    const p = 14 + dibSize
    for (let i = 0; i < colours; i++) {
      const o = p + i * 4
      if (o + 3 > buf.length) break
      palette.push([buf[o + 2]!, buf[o + 1]!, buf[o]!])
    }
  }
  const alpha = masks !== undefined && masks[3] !== 0
  const channels: 3 | 4 = alpha ? 4 : 3
  const out = Buffer.alloc(width * height * channels)
  const field = (v: number, mask: number): number => {
    if (!mask) return 0
    let shift = 0
    while (((mask >>> shift) & 1) === 0) shift++
    const max = mask >>> shift
    return Math.round((((v & mask) >>> shift) * 255) / max)
  }
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (topDown ? y : height - 1 - y) * stride
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * channels
      let r = 0
      let g = 0
      let b = 0
      let a = 255
      if (bitCount === 24) {
        b = buf[row + x * 3]!
        g = buf[row + x * 3 + 1]!
        r = buf[row + x * 3 + 2]!
      } else if (bitCount === 32 || bitCount === 16) {
        const v = bitCount === 32 ? buf.readUInt32LE(row + x * 4) : buf.readUInt16LE(row + x * 2)
        const mk = masks!
        r = field(v, mk[0])
        g = field(v, mk[1])
        b = field(v, mk[2])
        if (alpha) a = field(v, mk[3])
      } else {
        const bitPos = x * bitCount
        const byte = buf[row + (bitPos >> 3)]!
        const idx = (byte >> (8 - bitCount - (bitPos & 7))) & ((1 << bitCount) - 1)
        const c = palette[idx] ?? [0, 0, 0]
        ;[r, g, b] = c as [number, number, number]
      }
      out[o] = r
      out[o + 1] = g
      out[o + 2] = b
      if (channels === 4) out[o + 3] = a
    }
  }
  return { width, height, channels, data: out }
}

/** Encodes RGB bytes as a 24-bit bottom-up BMP (used by tests and the demo's format samples). */
export function encodeBmp24(width: number, height: number, rgb: Uint8Array): Buffer {
  const stride = Math.ceil((width * 3) / 4) * 4
  const size = 54 + stride * height
  const b = Buffer.alloc(size)
  b.write('BM', 0, 'latin1')
  b.writeUInt32LE(size, 2)
  b.writeUInt32LE(54, 10)
  b.writeUInt32LE(40, 14)
  b.writeInt32LE(width, 18)
  b.writeInt32LE(height, 22)
  b.writeUInt16LE(1, 26)
  b.writeUInt16LE(24, 28)
  b.writeUInt32LE(stride * height, 34)
  for (let y = 0; y < height; y++) {
    const row = 54 + (height - 1 - y) * stride
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3
      b[row + x * 3] = rgb[i + 2]!
      b[row + x * 3 + 1] = rgb[i + 1]!
      b[row + x * 3 + 2] = rgb[i]!
    }
  }
  return b
}

/**
 * For code that hands files to sharp: when `file` is a BMP (by extension for a path, by magic for
 * bytes), decodes it and returns raw pixels plus the `raw` geometry sharp needs; otherwise
 * undefined (let sharp read it). Errors name the file.
 */
export async function readBmpAsRaw(
  file: string | Buffer,
): Promise<{ data: Buffer; raw: { width: number; height: number; channels: 3 | 4 } } | undefined> {
  let buf: Buffer
  if (typeof file === 'string') {
    if (!/\.(bmp|dib)$/i.test(file)) return undefined
    const { readFile } = await import('node:fs/promises')
    buf = await readFile(file)
    if (!isBmp(buf)) return undefined
  } else {
    if (!isBmp(file)) return undefined
    buf = file
  }
  try {
    const img = decodeBmp(buf)
    return { data: img.data, raw: { width: img.width, height: img.height, channels: img.channels } }
  } catch (e) {
    throw new Error(`${typeof file === 'string' ? file : '<buffer>'}: corrupt BMP (${(e as Error).message})`)
  }
}
