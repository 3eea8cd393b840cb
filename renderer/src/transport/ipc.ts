/**
 * Electron transport: the preload exposes one named function per contract method on `window.qc`
 * plus `onEvent(listener) => unsubscribe`; never ipcRenderer itself. Images come through the
 * privileged `qc-img://` protocol, which serves only samples registered in the open project.
 */
import type { AppTransport, EventListener } from './types.ts'

/** The part of the preload API the transport relies on; the method functions are looked up by name. */
export interface PreloadApi {
  onEvent(listener: (event: unknown) => void): () => void
  [method: string]: unknown
}

/** True when the page runs inside the Electron window (the preload defined `window.qc`). */
export function hasPreload(): boolean {
  return typeof window !== 'undefined' && typeof (window as unknown as { qc?: unknown }).qc === 'object'
}

/** Creates the IPC transport over `window.qc`. */
export function createIpcTransport(api: PreloadApi = (window as unknown as { qc: PreloadApi }).qc): AppTransport {
  return {
    kind: 'electron',
    async invoke(method: string, input: unknown): Promise<unknown> {
      const fn = api[method]
      if (typeof fn !== 'function') throw new Error(`${method}: not exposed by the preload`)
      return (fn as (input: unknown) => Promise<unknown>)(input)
    },
    subscribe(listener: EventListener): () => void {
      return api.onEvent(listener)
    },
    imageUrl(sampleId: number, size: 'thumb' | 'full'): string {
      return `qc-img://sample/${sampleId}?size=${size}`
    },
  }
}
