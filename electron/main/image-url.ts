/**
 * Parses `qc-img://sample/<id>?size=thumb|full` requests. Only a positive integer sample id is
 * accepted; the file comes from the open project's registry (never from the URL), so a page can
 * never read an arbitrary file through the protocol. Pure (no 'electron' import).
 */
import { IMAGE_SCHEME } from '../../shared/ipc.ts'

export interface ImageRequest {
  sampleId: number
  size: 'thumb' | 'full'
}

/** The sample and size a qc-img URL asks for, or null when it is not a well-formed image URL. */
export function parseImageUrl(url: string): ImageRequest | null {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return null
  }
  if (u.protocol !== `${IMAGE_SCHEME}:` || u.hostname !== 'sample') return null
  const m = /^\/([1-9][0-9]{0,15})\/?$/.exec(u.pathname)
  if (!m) return null
  const sampleId = Number(m[1])
  if (!Number.isSafeInteger(sampleId)) return null
  const size = u.searchParams.get('size') ?? 'thumb'
  if (size !== 'thumb' && size !== 'full') return null
  return { sampleId, size }
}
