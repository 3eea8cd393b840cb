/**
 * The main window's options, as a plain object (no 'electron' import, unit-tested in plain Node).
 * Security settings are spelled out even where they are Electron's defaults, so a reader (and a
 * test) can see them.
 */
import type { Bounds } from './window-state.ts'

/** BrowserWindow options the app uses (a subset of Electron's BrowserWindowConstructorOptions). */
export interface MainWindowOptions {
  width: number
  height: number
  x?: number
  y?: number
  minWidth: number
  minHeight: number
  show: boolean
  title: string
  backgroundColor: string
  autoHideMenuBar: boolean
  webPreferences: {
    preload: string
    contextIsolation: true
    sandbox: true
    nodeIntegration: false
    nodeIntegrationInWorker: false
    nodeIntegrationInSubFrames: false
    webSecurity: true
    allowRunningInsecureContent: false
    webviewTag: false
    experimentalFeatures: false
    navigateOnDragDrop: false
    spellcheck: false
  }
}

/** Default size on first start. */
export const DEFAULT_BOUNDS: Bounds = { width: 1400, height: 900 }

/** Options of the main window: restored bounds (when given) and the locked-down web preferences. */
export function mainWindowOptions(opts: { preload: string; bounds?: Bounds; dark?: boolean }): MainWindowOptions {
  const b = opts.bounds ?? DEFAULT_BOUNDS
  return {
    width: b.width,
    height: b.height,
    ...(b.x !== undefined && b.y !== undefined ? { x: b.x, y: b.y } : {}),
    minWidth: 960,
    minHeight: 600,
    // Shown on ready-to-show, so the user never sees an empty white frame.
    show: false,
    title: 'Seed QC',
    backgroundColor: opts.dark ? '#16181d' : '#f6f7f9',
    autoHideMenuBar: true,
    webPreferences: {
      preload: opts.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      spellcheck: false,
    },
  }
}
