/**
 * Builds the object the preload exposes as `window.qc`: one named function per contract method
 * plus `onEvent` and `chooseSavePath` (the main process's save dialog), over the few ipcRenderer
 * calls it needs. Kept free of the 'electron' import so
 * it is unit-tested in plain Node; index.ts passes the real ipcRenderer.
 */
import { methodNames } from '../../shared/contract.ts'
import { EVENT_CHANNEL, methodChannel, type IpcReply } from '../../shared/ipc.ts'
import { SAVE_DIALOG_CHANNEL, type SaveDialogRequest } from '../../shared/dialog.ts'
import type { QcBridge } from '../../shared/transport.ts'

/** The part of ipcRenderer the bridge uses (never exposed itself). */
export interface IpcLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown
}

/** The `window.qc` API over an ipcRenderer. Only plain functions: nothing of `ipc` leaks through. */
export function buildBridge(ipc: IpcLike): QcBridge {
  const api: Record<string, unknown> = {}
  for (const name of methodNames) {
    const channel = methodChannel(name)
    api[name] = async (input?: unknown): Promise<unknown> => {
      const reply = (await ipc.invoke(channel, input ?? {})) as IpcReply
      if (reply.ok) return reply.value
      // A plain object survives the context bridge (an Error would lose its code); the client
      // turns it back into a ContractError.
      throw { error: reply.error }
    }
  }
  api.chooseSavePath = async (req: SaveDialogRequest): Promise<string | null> => {
    const reply = (await ipc.invoke(SAVE_DIALOG_CHANNEL, req)) as IpcReply
    if (reply.ok) return typeof reply.value === 'string' ? reply.value : null
    throw { error: reply.error }
  }
  api.onEvent = (listener: (event: unknown) => void): (() => void) => {
    const handler = (_e: unknown, event: unknown): void => listener(event)
    ipc.on(EVENT_CHANNEL, handler)
    return () => {
      ipc.removeListener(EVENT_CHANNEL, handler)
    }
  }
  return Object.freeze(api) as QcBridge
}
