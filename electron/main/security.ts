/**
 * Which URLs count as the app itself, for the sender check on every IPC message, navigation
 * (will-navigate) and new windows (setWindowOpenHandler). Pure: no 'electron' import, so it is
 * unit-tested in plain Node.
 *
 * The app is either loaded from files (production: file:///.../out/renderer/index.html) or from
 * electron-vite's dev server (http://localhost:5173/). Anything else, including other files on
 * disk and other ports, is not the app.
 */
import { fileURLToPath } from 'node:url'
import { isAbsolute, relative, resolve } from 'node:path'

/** Where the app's pages come from. */
export type AppLocation = { kind: 'file'; dir: string } | { kind: 'dev'; origin: string }

/** The app's location from electron-vite's dev-server variable, or the built renderer folder. */
export function appLocation(devServerUrl: string | undefined, rendererDir: string): AppLocation {
  if (devServerUrl) return { kind: 'dev', origin: new URL(devServerUrl).origin }
  return { kind: 'file', dir: resolve(rendererDir) }
}

/** True when `url` is a page of the app (same dev-server origin, or a file inside the renderer folder). */
export function isAppUrl(url: string | undefined | null, app: AppLocation): boolean {
  if (!url) return false
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return false
  }
  if (app.kind === 'dev') return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === app.origin
  if (u.protocol !== 'file:' || (u.host !== '' && u.host !== 'localhost')) return false
  let file: string
  try {
    file = fileURLToPath(u)
  } catch {
    return false
  }
  const rel = relative(app.dir, file)
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)
}

/** will-navigate: only reloads of the app itself; everything else (links, redirects) is blocked. */
export function allowNavigation(url: string, app: AppLocation): boolean {
  return isAppUrl(url, app)
}

/**
 * setWindowOpenHandler: the app never opens windows. Web links the user clicks (docs, licences)
 * are handed to the system browser instead, only for https.
 */
export function windowOpenDecision(url: string): { action: 'deny'; openExternal: boolean } {
  let external = false
  try {
    external = new URL(url).protocol === 'https:'
  } catch {
    external = false
  }
  return { action: 'deny', openExternal: external }
}

/** The minimal shape of an IPC event that the sender check needs (Electron's IpcMainInvokeEvent). */
export interface SenderInfo {
  senderFrame?: { url: string } | null
}

/** Accepts a message only from a frame showing the app (electron/fiddle's src/main/ipc.ts pattern). */
export function isTrustedSender(event: SenderInfo, app: AppLocation): boolean {
  return isAppUrl(event.senderFrame?.url, app)
}
