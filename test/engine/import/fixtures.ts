/** Real image files for import tests, written with sharp into a temp folder. */
import sharp from 'sharp'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { encodeBmp24 } from '../../../electron/engine/util/bmp.ts'

export function tempDir(prefix = 'qc-import-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

/** A small image with content that depends on `seed`, in the format the extension names. */
export async function writeImage(file: string, seed = 0, size = 24): Promise<void> {
  mkdirSync(dirname(file), { recursive: true })
  const px = Buffer.alloc(size * size * 3)
  for (let i = 0; i < px.length; i++) px[i] = (i * 7 + seed * 31) & 255
  const ext = file.slice(file.lastIndexOf('.') + 1).toLowerCase()
  if (ext === 'bmp') {
    writeFileSync(file, encodeBmp24(size, size, px))
    return
  }
  const img = sharp(px, { raw: { width: size, height: size, channels: 3 } })
  const out =
    ext === 'png'
      ? img.png()
      : ext === 'jpg' || ext === 'jpeg'
        ? img.jpeg()
        : ext === 'webp'
          ? img.webp()
          : ext === 'tif' || ext === 'tiff'
            ? img.tiff()
            : undefined
  if (!out) throw new Error(`fixture: no writer for .${ext}`)
  writeFileSync(file, await out.toBuffer())
}

/** A PNG whose header claims `w x h` (a pixel bomb): only the IHDR is real. */
export async function writePixelBomb(file: string, w = 20000, h = 20000): Promise<void> {
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
    .png()
    .toBuffer()
  // IHDR data starts at byte 16 (8 signature + 4 length + 4 type); patch width/height and its CRC.
  const b = Buffer.from(png)
  b.writeUInt32BE(w, 16)
  b.writeUInt32BE(h, 20)
  b.writeUInt32BE(crc32(b.subarray(12, 29)), 29)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, b)
}

function crc32(buf: Uint8Array): number {
  let c = ~0
  for (const byte of buf) {
    c ^= byte
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1
  }
  return ~c >>> 0
}
