#!/usr/bin/env node
// `npm start`: launches the desktop app through electron-vite (dev server with hot reload, or
// `npm start -- --preview` for the built app) where the Electron binary is installed. Where it is
// not (its download is blocked on some machines, or ELECTRON_SKIP_BINARY_DOWNLOAD was set), it
// says how to use web mode instead and exits with status 1: the app did not start, and a script
// calling `npm start` should know that.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const require = createRequire(join(root, 'package.json'))

/** Path of the Electron executable, or null when the binary was never downloaded. */
function electronBinary() {
  try {
    // The electron package exports the executable's path; it throws when dist/ is missing.
    const p = require('electron')
    return typeof p === 'string' && existsSync(p) ? p : null
  } catch {
    return null
  }
}

let bin = electronBinary()
if (!bin && !process.env.ELECTRON_SKIP_BINARY_DOWNLOAD) {
  // package.json's allowScripts keeps npm from running Electron's download at install time (it
  // fails where downloads are blocked, and would fail the whole install). Fetch it now, once.
  console.error('Downloading the Electron binary (first start only)...')
  const installer = join(root, 'node_modules', 'electron', 'install.js')
  if (existsSync(installer)) spawnSync(process.execPath, [installer], { cwd: join(root, 'node_modules', 'electron'), stdio: 'inherit' })
  bin = electronBinary()
}
if (!bin) {
  console.error(
    [
      'The Electron binary is not installed here, so the desktop app cannot start.',
      '',
      'Use web mode instead: the same app in your browser, on this machine only:',
      '  npm run serve',
      'then open the http://127.0.0.1:...?token=... address it prints.',
      '',
      'To get the desktop app, run `npm start` again on a machine that can download Electron',
      '(it runs node_modules/electron/install.js once).',
    ].join('\n'),
  )
  process.exit(1)
}
const mode = process.argv.includes('--preview') ? 'preview' : 'dev'
const cli = join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js')
const r = spawnSync(process.execPath, [cli, mode], { cwd: root, stdio: 'inherit' })
process.exit(r.status ?? 1)
