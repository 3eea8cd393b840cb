/**
 * The renderer's single way to the engine: the contract's typed client (shared/transport.ts),
 * on the transport chosen at startup: Electron IPC when the preload bridge is present, HTTP +
 * server-sent events otherwise (web mode).
 */
import { createClient, type Client, type Transport } from '../../shared/transport.ts'
import { createWebTransport } from './transport/http.ts'
import { createIpcTransport, preloadBridge } from './transport/ipc.ts'

const bridge = preloadBridge()
/** 'electron' inside the desktop window (preload present), 'web' in a browser. */
export const mode: 'electron' | 'web' = bridge ? 'electron' : 'web'
export const transport: Transport = bridge ? createIpcTransport(bridge) : createWebTransport()
/** One async function per contract method, inputs and outputs validated against the contract. */
export const api: Client = createClient(transport)

/** URL of a sample's image (thumbnail or full size). */
export function imageUrl(sampleId: number, size: 'thumb' | 'full' = 'thumb'): string {
  return api.imageUrl(sampleId, size)
}
