/**
 * Image validation at import: is this file an image we can decode later? Reads the header first
 * (sharp metadata) so a pixel bomb is refused before any decoding, then decodes a small thumbnail
 * as a cheap check that the pixel data is there (a truncated PNG/JPEG has a valid header). Formats:
 * what sharp reads (PNG, JPEG, TIFF, WebP, GIF, HEIF/AVIF) plus BMP through our own decoder, since
 * sharp 0.35's prebuilt libvips has no BMP loader.
 */
import sharp, { type Metadata, type Sharp } from 'sharp'
import { lstat, readFile, stat } from 'node:fs/promises'
import { extname } from 'node:path'
import { sha256Bytes } from '../util/hash.ts'
import { bmpHeader, decodeBmp, isBmp } from '../util/bmp.ts'

/** Default pixel limit: 100 megapixels (sharp's own default is ~268 MP). */
export const DEFAULT_MAX_PIXELS = 100_000_000

/** File name extensions we treat as images (lower case, with the dot). */
export const IMAGE_EXTENSIONS = new Set([
  '.png',
  '.jpg',
  '.jpeg',
  '.jpe',
  '.tif',
  '.tiff',
  '.webp',
  '.bmp',
  '.dib',
  '.gif',
  '.avif',
  '.heic',
  '.heif',
])

/** True when the file name has an image extension. */
export function hasImageExtension(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(name).toLowerCase())
}

export type ProbeResult = { ok: true; hash: string; size: number; width: number; height: number; format: string } | { ok: false; reason: string }

/**
 * Opens image bytes with sharp, decoding BMP ourselves. Use this (not `sharp(buf)`) wherever a
 * sample's image is decoded, so that every format import accepts is also readable later.
 */
export function openImage(buf: Buffer, opts: { maxPixels?: number } = {}): Sharp {
  const limitInputPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS
  if (isBmp(buf)) {
    const img = decodeBmp(buf)
    return sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels }, limitInputPixels })
  }
  return sharp(buf, { failOn: 'error', limitInputPixels })
}

/** Why a path cannot be read, in words. */
async function unreadableReason(file: string, e: NodeJS.ErrnoException): Promise<string> {
  if (e.code === 'ENOENT') {
    const l = await lstat(file).catch(() => undefined)
    return l?.isSymbolicLink() ? 'unreadable: broken symbolic link' : 'unreadable: file not found'
  }
  if (e.code === 'EACCES' || e.code === 'EPERM') return `unreadable: permission denied (${e.code})`
  if (e.code === 'EISDIR') return 'unreadable: is a directory, not a file'
  if (e.code === 'ELOOP') return 'unreadable: symbolic link loop'
  return `unreadable: ${e.code ?? e.message}`
}

/**
 * Validates one image file: readable, not empty, a known format, not over `maxPixels` (checked
 * from the header, before decoding), and decodable. Returns its sha256, size and dimensions, or
 * the reason it cannot be used.
 */
export async function probeImage(file: string, opts: { maxPixels?: number } = {}): Promise<ProbeResult> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS
  let buf: Buffer
  try {
    const st = await stat(file)
    if (st.isDirectory()) return { ok: false, reason: 'unreadable: is a directory, not a file' }
    if (!st.isFile()) return { ok: false, reason: 'unreadable: not a regular file' }
    if (st.size === 0) return { ok: false, reason: 'empty file (0 bytes)' }
    buf = await readFile(file)
  } catch (e) {
    return { ok: false, reason: await unreadableReason(file, e as NodeJS.ErrnoException) }
  }
  return probeImageBytes(buf, { maxPixels })
}

/** probeImage on bytes already read. */
export async function probeImageBytes(buf: Buffer, opts: { maxPixels?: number } = {}): Promise<ProbeResult> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS
  if (buf.length === 0) return { ok: false, reason: 'empty file (0 bytes)' }
  const hash = sha256Bytes(buf)
  let width: number
  let height: number
  let format: string
  if (isBmp(buf)) {
    try {
      const h = bmpHeader(buf)
      width = h.width
      height = h.height
      format = 'bmp'
    } catch (e) {
      return { ok: false, reason: `corrupt BMP: ${(e as Error).message}` }
    }
  } else {
    let meta: Metadata
    try {
      meta = await sharp(buf, { limitInputPixels: false }).metadata()
    } catch (e) {
      const msg = (e as Error).message
      if (/unsupported image format/i.test(msg)) return { ok: false, reason: 'not an image (unrecognised format)' }
      return { ok: false, reason: `corrupt image header (${msg})` }
    }
    if (!meta.width || !meta.height || !meta.format) return { ok: false, reason: 'corrupt image header (no dimensions)' }
    width = meta.width
    height = meta.height
    format = meta.format
  }
  const pixels = width * height
  if (pixels > maxPixels) {
    return {
      ok: false,
      reason: `image too large (pixel bomb guard): ${width} x ${height} = ${(pixels / 1e6).toFixed(1)} MP, limit ${(maxPixels / 1e6).toFixed(1)} MP`,
    }
  }
  try {
    // Shrink-on-load keeps this cheap for JPEG/WebP; a truncated or corrupt body fails here.
    await openImage(buf, { maxPixels }).resize(32, 32, { fit: 'inside' }).raw().toBuffer()
  } catch (e) {
    return { ok: false, reason: `corrupt or truncated image data (${(e as Error).message.split('\n')[0]})` }
  }
  return { ok: true, hash, size: buf.length, width, height, format }
}
