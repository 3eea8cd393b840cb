/**
 * The save dialog's IPC handler, without Electron (unit-tested in plain Node): it answers only the
 * app's own frame, validates the request with shared/dialog.ts, and asks `show` (Electron's
 * dialog.showSaveDialog in ipc.ts) for a path. The renderer only ever receives a path the user
 * picked, or null; it never gets to open a dialog with options of its own making.
 */
import { SaveDialogRequest } from '../../shared/dialog.ts'
import type { IpcReply } from '../../shared/ipc.ts'
import { isTrustedSender, type AppLocation, type SenderInfo } from './security.ts'

export interface SaveDialogDeps {
  app: AppLocation
  /** Shows the native dialog for this sender's window; the chosen path, or null when cancelled. */
  show(req: SaveDialogRequest, sender: SenderInfo): Promise<string | null>
  onRefused?(why: string): void
}

/** The options of Electron's showSaveDialog for a request: a file with its extensions, or a new folder's name. */
export function saveDialogOptions(req: SaveDialogRequest): {
  title?: string
  defaultPath?: string
  filters?: { name: string; extensions: string[] }[]
  properties: ('createDirectory' | 'showOverwriteConfirmation')[]
} {
  return {
    ...(req.title ? { title: req.title } : {}),
    ...(req.defaultPath ? { defaultPath: req.defaultPath } : {}),
    ...(req.kind === 'file' && req.extensions?.length
      ? { filters: [{ name: req.extensions.map((e) => e.toUpperCase()).join(', '), extensions: req.extensions }] }
      : {}),
    // The engine asks before replacing anything itself, so the dialog does not ask twice.
    properties: ['createDirectory'],
  }
}

/** Builds the `ipcMain.handle` listener of the save dialog. */
export function makeSaveDialogHandler(deps: SaveDialogDeps): (event: SenderInfo, input: unknown) => Promise<IpcReply> {
  return async (event, input) => {
    if (!isTrustedSender(event, deps.app)) {
      deps.onRefused?.(`sender ${event.senderFrame?.url ?? '(no frame)'} is not the app`)
      return { ok: false, error: { code: 'forbidden', message: 'this window may not open dialogs' } }
    }
    const parsed = SaveDialogRequest.safeParse(input)
    if (!parsed.success) {
      deps.onRefused?.('invalid save dialog request')
      return { ok: false, error: { code: 'bad_request', message: 'invalid save dialog request' } }
    }
    try {
      return { ok: true, value: await deps.show(parsed.data, event) }
    } catch (e) {
      return { ok: false, error: { code: 'internal', message: e instanceof Error ? e.message : String(e) } }
    }
  }
}
