/**
 * The desktop app's save dialog: the one thing the renderer asks of the Electron main process
 * itself rather than of the engine (a native dialog belongs to the window). The request is checked
 * with this schema in the main process, like every contract payload. Imports nothing but zod.
 */
import { z } from 'zod'

/** IPC channel of the save dialog (main: ipcMain.handle; preload: `window.qc.chooseSavePath`). */
export const SAVE_DIALOG_CHANNEL = 'qc:dialog:save'

/** What the renderer asks for: a new file (with its extensions) or a new folder, starting at `defaultPath`. */
export const SaveDialogRequest = z
  .object({
    kind: z.enum(['file', 'folder']),
    defaultPath: z.string().max(4096).optional(),
    title: z.string().max(200).optional(),
    /** File name extensions without the dot, e.g. ['csv']. */
    extensions: z
      .array(z.string().regex(/^[a-z0-9]{1,8}$/i))
      .max(5)
      .optional(),
  })
  .strict()
export type SaveDialogRequest = z.infer<typeof SaveDialogRequest>
