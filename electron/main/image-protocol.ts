/**
 * The qc-img:// protocol: serves sample images of the open project only. The URL names a sample
 * id (image-url.ts); the engine looks the file up in the project's registry, so no page can read
 * an arbitrary file.
 */
import { net, protocol } from 'electron'
import { pathToFileURL } from 'node:url'
import { IMAGE_SCHEME } from '../../shared/ipc.ts'
import type { EngineHost } from './engine-host.ts'
import { parseImageUrl } from './image-url.ts'

/** Must run before app 'ready': the scheme is standard, secure and fetchable by the page. */
export function registerImageScheme(): void {
  protocol.registerSchemesAsPrivileged([{ scheme: IMAGE_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true } }])
}

/** Installs the handler (after 'ready'). */
export function setupImageProtocol(engine: EngineHost): void {
  protocol.handle(IMAGE_SCHEME, async (request) => {
    const req = parseImageUrl(request.url)
    if (!req) return new Response('bad image URL', { status: 400 })
    let img: { file: string; mime: string } | null
    try {
      img = await engine.rpc.image(req.sampleId, req.size)
    } catch (e) {
      return new Response(`image unavailable: ${(e as Error).message}`, { status: 503 })
    }
    if (!img) return new Response('no such image in the open project', { status: 404 })
    const res = await net.fetch(pathToFileURL(img.file).href)
    return new Response(res.body, { status: 200, headers: { 'content-type': img.mime, 'cache-control': 'private, max-age=300' } })
  })
}
