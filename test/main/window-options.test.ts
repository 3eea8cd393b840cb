import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DEFAULT_BOUNDS, mainWindowOptions } from '../../electron/main/window-options.ts'

test('the main window is locked down', () => {
  const o = mainWindowOptions({ preload: '/app/out/preload/index.cjs' })
  const w = o.webPreferences
  assert.equal(w.contextIsolation, true)
  assert.equal(w.sandbox, true)
  assert.equal(w.nodeIntegration, false)
  assert.equal(w.nodeIntegrationInWorker, false)
  assert.equal(w.nodeIntegrationInSubFrames, false)
  assert.equal(w.webSecurity, true)
  assert.equal(w.allowRunningInsecureContent, false)
  assert.equal(w.webviewTag, false)
  assert.equal(w.preload, '/app/out/preload/index.cjs')
  assert.equal(o.show, false, 'shown on ready-to-show')
})

test('restores saved bounds, defaults otherwise', () => {
  const d = mainWindowOptions({ preload: 'p' })
  assert.equal(d.width, DEFAULT_BOUNDS.width)
  assert.equal(d.x, undefined)
  const r = mainWindowOptions({ preload: 'p', bounds: { x: 10, y: 20, width: 1000, height: 700 } })
  assert.deepEqual([r.x, r.y, r.width, r.height], [10, 20, 1000, 700])
})
