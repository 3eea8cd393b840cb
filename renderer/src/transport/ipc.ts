/**
 * Electron: the preload exposes one named function per contract method on `window.qc` plus
 * `onEvent` (never ipcRenderer); images come through the privileged qc-img:// protocol, which
 * serves only samples registered in the open project.
 */
import { createBridgeTransport, type Transport, type QcBridge } from '../../../shared/transport.ts'

/** The preload bridge, when the page runs inside the Electron window. */
export function preloadBridge(): QcBridge | null {
  const qc = (window as unknown as { qc?: QcBridge }).qc
  return qc && typeof qc === 'object' && typeof qc.onEvent === 'function' ? qc : null
}

/** The IPC transport over `window.qc`. */
export function createIpcTransport(bridge: QcBridge): Transport {
  return createBridgeTransport(bridge)
}
