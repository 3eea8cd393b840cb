/**
 * IPC channel names shared by the Electron main process and the preload (one place, as
 * electron/fiddle keeps its ipc-events). Imports nothing.
 */

/** Channel of a contract method: `ipcRenderer.invoke(methodChannel('appInfo'), input)`. */
export function methodChannel(method: string): string {
  return `qc:call:${method}`
}

/** Channel on which the main process forwards engine events to windows. */
export const EVENT_CHANNEL = 'qc:event'

/** What an IPC method handler resolves with: IPC rejections lose everything but the message, so errors travel as values. */
export type IpcReply = { ok: true; value: unknown } | { ok: false; error: { code: string; message: string } }

/** Scheme of the image protocol: `qc-img://sample/<id>?size=thumb|full`. */
export const IMAGE_SCHEME = 'qc-img'
