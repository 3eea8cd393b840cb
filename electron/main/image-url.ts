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
  // Match the raw string: URL parsing would quietly resolve '1/../2' into '2'; we want no
  // path semantics at all, only "sample/<id>" and an optional size.
  const m = new RegExp(`^${IMAGE_SCHEME}://sample/([1-9][0-9]{0,15})/?(?:\\?size=(thumb|full))?$`).exec(url)
  if (!m) return null
  const sampleId = Number(m[1])
  if (!Number.isSafeInteger(sampleId)) return null
  return { sampleId, size: m[2] === 'full' ? 'full' : 'thumb' }
}
