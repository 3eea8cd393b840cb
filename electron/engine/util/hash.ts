/** Content hashes: sha256, hex. */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'

/** sha256 of a file, streamed so a large file never sits in memory whole. */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256')
    const s = createReadStream(file)
    s.on('error', (e) => reject(new Error(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? e.message})`)))
    s.on('data', (chunk) => h.update(chunk))
    s.on('end', () => resolve(h.digest('hex')))
  })
}

/** sha256 of bytes in memory (a typed array is hashed over its own bytes only). */
export function sha256Bytes(data: Uint8Array | ArrayBufferView): string {
  const view = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  return createHash('sha256').update(view).digest('hex')
}
