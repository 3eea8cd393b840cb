/**
 * Remote backbones in the service. A remote backbone makes the engine's machine send requests to
 * another server, so web mode (confined, reachable by whoever holds the URL and token) allows it
 * only for the inference servers its operator named (`qc serve --allow-backbone-server ORIGIN`);
 * otherwise a web client could make this machine probe its network. The desktop app is the
 * user's own process and may use any server. A refusal is the contract's 'forbidden'.
 */
import { OutsideRootsError } from './context.ts'

/** `scheme://host:port` of a server as `new URL` normalises it, or undefined when not an http(s) URL. */
export function serverOrigin(text: string): string | undefined {
  try {
    const u = new URL(text)
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined
  } catch {
    return undefined
  }
}

/**
 * The normalised model URL when this service may use it: always when unconfined; when confined,
 * only on a server of `allowed`. Throws the URL's own parse error or OutsideRootsError.
 */
export async function allowedRemoteUrl(url: string, confined: boolean, allowed: readonly string[]): Promise<string> {
  const { parseRemoteUrl } = await import('../engine/backbone/remote.ts')
  const ref = parseRemoteUrl(url)
  if (!confined) return ref.url
  const origin = serverOrigin(ref.server)
  if (origin !== undefined && allowed.some((a) => serverOrigin(a) === origin)) return ref.url
  throw new OutsideRootsError(
    `remote backbone ${ref.server}: this web server sends no requests to other servers unless started with qc serve --allow-backbone-server ${ref.server}`,
  )
}
