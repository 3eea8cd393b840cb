/**
 * Electron main process: thin. One setupXxx() per feature (electron/fiddle's main.ts); the engine
 * runs in a supervised utilityProcess, the window is locked down, and every IPC message is checked.
 */
import { app, dialog, BrowserWindow } from 'electron'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { EngineHost } from './engine-host.ts'
import { registerImageScheme, setupImageProtocol } from './image-protocol.ts'
import { broadcast, setupIpc } from './ipc.ts'
import { appLocation } from './security.ts'
import { createMainWindow, setupCsp, setupNavigationGuards } from './window.ts'

const here = dirname(fileURLToPath(import.meta.url))
const rendererDir = join(here, '../renderer')
const location = appLocation(process.env.ELECTRON_RENDERER_URL, rendererDir)
let engine: EngineHost | null = null

function setupSingleInstance(): boolean {
  if (!app.requestSingleInstanceLock()) {
    app.quit()
    return false
  }
  app.on('second-instance', () => {
    const win = BrowserWindow.getAllWindows()[0]
    if (win) {
      if (win.isMinimized()) win.restore()
      win.focus()
    }
  })
  return true
}

function setupEngine(): EngineHost {
  const host = new EngineHost({
    entry: join(here, 'engine.js'),
    dataDir: join(app.getPath('userData'), 'data'),
    resourcesDir: app.isPackaged ? join(process.resourcesPath, 'resources') : join(here, '../../resources'),
    appVersion: app.getVersion(),
    onEvent: (e) => broadcast(e, location),
    onCrash: (reason) => {
      void dialog
        .showMessageBox({
          type: 'error',
          title: 'Seed QC',
          message: 'The engine stopped unexpectedly.',
          detail: `${reason}\nFinished work is stored in the project file.`,
          buttons: ['Restart the engine', 'Not now'],
          defaultId: 0,
        })
        .then((r) => {
          if (r.response === 0) host.restart()
        })
    },
  })
  host.start()
  return host
}

function setupQuit(host: EngineHost): void {
  let stopped = false
  app.on('before-quit', (e) => {
    if (stopped) return
    e.preventDefault()
    void host.stop().finally(() => {
      stopped = true
      app.quit()
    })
  })
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit()
  })
}

if (setupSingleInstance()) {
  registerImageScheme()
  void app.whenReady().then(() => {
    setupCsp(location)
    setupNavigationGuards(location)
    engine = setupEngine()
    setupIpc(engine, location)
    setupImageProtocol(engine)
    setupQuit(engine)
    createMainWindow({ app: location, preload: join(here, '../preload/index.cjs'), rendererIndex: join(rendererDir, 'index.html') })
    app.on('activate', () => {
      if (BrowserWindow.getAllWindows().length === 0)
        createMainWindow({ app: location, preload: join(here, '../preload/index.cjs'), rendererIndex: join(rendererDir, 'index.html') })
    })
  })
}
