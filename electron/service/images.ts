/**
 * Sample images for the UI. A client only ever names a sample id; the file is looked up in the
 * open project (a sample registered there), never taken from the request. Thumbnails are made
 * with sharp and cached on disk under the data folder, keyed by the file's content hash, so a
 * changed file gets a new thumbnail and identical files share one.
 *
 * A file is served by its real path (links resolved) and only when it is the registered file: its
 * real path lies inside the real path of its source root, or — a link that leaves the root, as in
 * a dataset made of links — its content has the sha256 recorded at import. A sample swapped for a
 * link to /etc/passwd is therefore not served. In web mode (confined) the real path must also lie
 * under the folders the server may use, checked before anything is read.
 */
import { existsSync, mkdirSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { extname, join, relative, resolve, isAbsolute } from 'node:path'
import type { Db } from '../engine/store/db.ts'
import { imageSampleLocation } from '../engine/store/read-model.ts'
import type { ImageSize } from '../../shared/contract.ts'
import { readBmpAsRaw } from '../engine/util/bmp.ts'
import { isInside, type Confinement } from '../engine/util/confine.ts'
import { sha256File } from '../engine/util/hash.ts'

/** Longest side of a thumbnail in pixels. */
export const THUMB_SIZE = 256

const MIME: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.bmp': 'image/bmp',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
}

/** Browsers show these directly; anything else (TIFF, BMP in some engines) is converted for 'full'. */
const BROWSER_SAFE = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif'])

/**
 * The absolute image file of a sample registered in the project, or undefined when the id is not
 * an image sample of this project or its stored path would leave its source root.
 */
export function sampleImageFile(db: Db, sampleId: number): { file: string; hash: string; root: string } | undefined {
  if (!Number.isSafeInteger(sampleId) || sampleId <= 0) return undefined
  const r = imageSampleLocation(db, sampleId)
  if (!r) return undefined
  const root = resolve(r.root)
  const file = resolve(root, ...r.path.split('/'))
  const rel = relative(root, file)
  // Defence in depth: a stored path is relative and has no '..', but never serve outside the root.
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return undefined
  return { file, hash: r.hash, root }
}

function realOrUndefined(p: string): string | undefined {
  try {
    return realpathSync(p)
  } catch {
    return undefined
  }
}

/**
 * The real path of a sample's registered file when it may be served (see the header), else
 * undefined: not a registered image, gone, not a plain file, outside the confinement, or a link
 * out of its source root whose content is not the registered one.
 */
export async function servableImageFile(
  db: Db,
  sampleId: number,
  confinement?: Confinement | null,
): Promise<{ file: string; hash: string; registered: string } | undefined> {
  const s = sampleImageFile(db, sampleId)
  if (!s) return undefined
  const real = realOrUndefined(s.file)
  const realRoot = realOrUndefined(s.root)
  if (real === undefined || realRoot === undefined) return undefined
  if (confinement && !confinement.contains(real)) return undefined
  if (!statSync(real, { throwIfNoEntry: false })?.isFile()) return undefined
  if (!isInside(real, realRoot) && (await sha256File(real).catch(() => undefined)) !== s.hash) return undefined
  return { file: real, hash: s.hash, registered: s.file }
}

/** A file to send for an image request: its path and MIME type. */
export interface ImageFile {
  file: string
  mime: string
}

/**
 * The file to serve for a sample image: the original for 'full' when browsers show its format,
 * otherwise a cached JPEG (thumbnail, or a converted full-size copy). Undefined when the sample
 * is not a registered image, the file is gone or it may not be served (servableImageFile).
 */
export async function imageForSample(
  db: Db,
  sampleId: number,
  size: ImageSize,
  cacheDir: string,
  confinement?: Confinement | null,
): Promise<ImageFile | undefined> {
  const s = await servableImageFile(db, sampleId, confinement)
  if (!s) return undefined
  // The type is the registered name's (a link may point at a file named otherwise).
  const ext = extname(s.registered).toLowerCase()
  if (size === 'full' && BROWSER_SAFE.has(ext)) return { file: s.file, mime: MIME[ext] ?? 'application/octet-stream' }
  mkdirSync(cacheDir, { recursive: true })
  const safeHash = s.hash.replace(/[^0-9a-zA-Z]/g, '')
  const out = join(cacheDir, `${safeHash}-${size === 'thumb' ? THUMB_SIZE : 'full'}.jpg`)
  if (!existsSync(out)) {
    const sharp = (await import('sharp')).default
    // sharp 0.35 has no BMP loader; util/bmp.ts decodes it (import accepts BMP).
    const bmp = await readBmpAsRaw(s.file)
    let img = sharp(bmp ? bmp.data : s.file, { limitInputPixels: 100_000_000, ...(bmp ? { raw: bmp.raw } : {}) }).rotate()
    if (size === 'thumb') img = img.resize(THUMB_SIZE, THUMB_SIZE, { fit: 'inside', withoutEnlargement: true })
    const buf = await img.jpeg({ quality: size === 'thumb' ? 80 : 92 }).toBuffer()
    // Write then rename so a concurrent reader never sees half a file.
    const tmp = `${out}.${process.pid}.${Date.now()}.tmp`
    writeFileSync(tmp, buf)
    renameSync(tmp, out)
  }
  return { file: out, mime: 'image/jpeg' }
}
