/**
 * The main window: locked-down options (window-options.ts), restored bounds, CSP on every
 * response, navigation and new windows blocked except the app's own URL.
 */
import { BrowserWindow, nativeTheme, screen, session, shell, app as electronApp } from 'electron'
import { join } from 'node:path'
import { contentSecurityPolicy } from '../../shared/csp.ts'
import { allowNavigation, windowOpenDecision, type AppLocation } from './security.ts'
import { mainWindowOptions } from './window-options.ts'
import { fitToDisplays, loadBounds, saveBounds } from './window-state.ts'

/** Adds the CSP header to every response of the default session (the meta tag in index.html is the second line of defence). */
export function setupCsp(app: AppLocation): void {
  const csp = contentSecurityPolicy({ mode: 'electron', dev: app.kind === 'dev', ...(app.kind === 'dev' ? { devServer: app.origin } : {}) })
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [csp] } })
  })
  // The app needs no camera, microphone, notifications or geolocation.
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false))
}

/** Blocks navigation and window.open for every web contents the app creates. */
export function setupNavigationGuards(app: AppLocation): void {
  electronApp.on('web-contents-created', (_e, contents) => {
    contents.on('will-navigate', (event, url) => {
      if (!allowNavigation(url, app)) event.preventDefault()
    })
    contents.on('will-redirect', (event, url) => {
      if (!allowNavigation(url, app)) event.preventDefault()
    })
    contents.on('will-attach-webview', (event) => event.preventDefault())
    contents.setWindowOpenHandler(({ url }) => {
      const d = windowOpenDecision(url)
      if (d.openExternal) void shell.openExternal(url)
      return { action: d.action }
    })
  })
}

/** Creates the main window and loads the app. */
export function createMainWindow(opts: { app: AppLocation; preload: string; rendererIndex: string }): BrowserWindow {
  const stateFile = join(electronApp.getPath('userData'), 'window-state.json')
  const saved = loadBounds(stateFile)
  const bounds = saved
    ? fitToDisplays(
        saved,
        screen.getAllDisplays().map((d) => d.workArea),
      )
    : undefined
  const win = new BrowserWindow(mainWindowOptions({ preload: opts.preload, ...(bounds ? { bounds } : {}), dark: nativeTheme.shouldUseDarkColors }))
  if (saved?.maximized) win.maximize()
  win.once('ready-to-show', () => win.show())
  const persist = (): void => {
    if (win.isDestroyed() || win.isMinimized()) return
    const b = win.getNormalBounds()
    saveBounds(stateFile, { ...b, ...(win.isMaximized() ? { maximized: true } : {}) })
  }
  win.on('close', persist)
  if (opts.app.kind === 'dev') void win.loadURL(opts.app.origin)
  else void win.loadFile(opts.rendererIndex)
  return win
}
