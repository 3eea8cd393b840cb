/**
 * The renderer's single way to the engine: the contract's typed client (shared/transport.ts),
 * on the transport chosen at startup: Electron IPC when the preload bridge is present, HTTP +
 * server-sent events otherwise (web mode).
 */
import { createClient, type Client, type Transport } from '../../shared/transport.ts'
import { createWebTransport } from './transport/http.ts'
import { createIpcTransport, preloadBridge } from './transport/ipc.ts'

function chooseTransport(): Transport {
  const bridge = preloadBridge()
  return bridge ? createIpcTransport(bridge) : createWebTransport()
}

export const transport: Transport = chooseTransport()
/** One async function per contract method, inputs and outputs validated against the contract. */
export const api: Client = createClient(transport)

/** URL of a sample's image (thumbnail or full size). */
export function imageUrl(sampleId: number, size: 'thumb' | 'full' = 'thumb'): string {
  return api.imageUrl(sampleId, size)
}
