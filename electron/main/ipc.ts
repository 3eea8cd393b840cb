/**
 * One ipcMain handler per contract method (channel names from shared/ipc.ts), each checking the
 * sender and validating the payload (ipc-handler.ts) before the engine sees it; engine events are
 * forwarded to the app's windows.
 */
import { BrowserWindow, dialog, ipcMain, type WebContents } from 'electron'
import { methodNames, type EngineEvent } from '../../shared/contract.ts'
import { EVENT_CHANNEL, methodChannel } from '../../shared/ipc.ts'
import { SAVE_DIALOG_CHANNEL } from '../../shared/dialog.ts'
import type { EngineHost } from './engine-host.ts'
import { makeIpcHandler } from './ipc-handler.ts'
import { makeSaveDialogHandler, saveDialogOptions } from './save-dialog.ts'
import { isAppUrl, type AppLocation } from './security.ts'

/** Registers the handlers; `restartEngine` is answered by main (the engine cannot restart itself). */
export function setupIpc(engine: EngineHost, app: AppLocation): void {
  const call = async (method: string, input: unknown): Promise<unknown> => {
    if (method === 'restartEngine') return { restarted: engine.restart() }
    if (method === 'appInfo') {
      const info = (await engine.rpc.call(method, input)) as Record<string, unknown>
      return { ...info, mode: 'electron' }
    }
    return engine.rpc.call(method, input)
  }
  for (const name of methodNames) {
    ipcMain.handle(methodChannel(name), makeIpcHandler(name, { app, call, onRefused: (m, why) => console.warn(`ipc ${m} refused: ${why}`) }))
  }
  ipcMain.handle(
    SAVE_DIALOG_CHANNEL,
    makeSaveDialogHandler({
      app,
      async show(req, event) {
        // Modal to the window that asked (the sender is an IpcMainInvokeEvent at run time).
        const win = BrowserWindow.fromWebContents((event as { sender?: WebContents }).sender as WebContents)
        const opts = saveDialogOptions(req)
        const r = win ? await dialog.showSaveDialog(win, opts) : await dialog.showSaveDialog(opts)
        return r.canceled || !r.filePath ? null : r.filePath
      },
      onRefused: (why) => console.warn(`save dialog refused: ${why}`),
    }),
  )
}

/** Sends an engine event to every window that shows the app. */
export function broadcast(event: EngineEvent, app: AppLocation): void {
  for (const w of BrowserWindow.getAllWindows()) {
    if (!w.isDestroyed() && isAppUrl(w.webContents.getURL(), app)) w.webContents.send(EVENT_CHANNEL, event)
  }
}
