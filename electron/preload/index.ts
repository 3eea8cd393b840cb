/**
 * Preload (sandboxed): exposes `window.qc` with one named function per contract method and
 * `onEvent`, derived from the contract's method list. Never exposes ipcRenderer itself.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron'
import { methodNames } from '../../shared/contract.ts'
import { EVENT_CHANNEL, methodChannel, type IpcReply } from '../../shared/ipc.ts'
import type { QcBridge } from '../../shared/transport.ts'

const api: Record<string, unknown> = {}
for (const name of methodNames) {
  const channel = methodChannel(name)
  api[name] = async (input?: unknown): Promise<unknown> => {
    const reply = (await ipcRenderer.invoke(channel, input ?? {})) as IpcReply
    if (reply.ok) return reply.value
    // A plain object survives the context bridge; the client turns it into a ContractError.
    throw { error: reply.error }
  }
}
api.onEvent = (listener: (event: unknown) => void): (() => void) => {
  const handler = (_e: IpcRendererEvent, event: unknown): void => listener(event)
  ipcRenderer.on(EVENT_CHANNEL, handler)
  return () => {
    ipcRenderer.removeListener(EVENT_CHANNEL, handler)
  }
}

contextBridge.exposeInMainWorld('qc', api as QcBridge)
