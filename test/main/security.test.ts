import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'
import { allowNavigation, appLocation, isAppUrl, isTrustedSender, windowOpenDecision } from '../../electron/main/security.ts'

const dir = join('/opt/seed-qc/resources/app/out/renderer')
const prod = appLocation(undefined, dir)
const dev = appLocation('http://localhost:5173/', dir)
const index = pathToFileURL(join(dir, 'index.html')).href

test('production: only files inside the renderer folder are the app', () => {
  assert.equal(isAppUrl(index, prod), true)
  assert.equal(isAppUrl(`${index}#/review`, prod), true)
  assert.equal(isAppUrl(pathToFileURL(join(dir, 'assets', 'index.js')).href, prod), true)
  assert.equal(isAppUrl(pathToFileURL('/etc/passwd').href, prod), false)
  assert.equal(isAppUrl(pathToFileURL(join(dir, '..', 'main', 'index.js')).href, prod), false)
  assert.equal(isAppUrl(`file://${dir}/../../secret.html`, prod), false)
  assert.equal(isAppUrl(`file://evil-host${dir}/index.html`, prod), false)
  assert.equal(isAppUrl('https://example.com/', prod), false)
  assert.equal(isAppUrl('about:blank', prod), false)
  assert.equal(isAppUrl('', prod), false)
  assert.equal(isAppUrl(undefined, prod), false)
  assert.equal(isAppUrl('not a url', prod), false)
})

test('dev: only the dev server origin is the app', () => {
  assert.equal(isAppUrl('http://localhost:5173/#/review', dev), true)
  assert.equal(isAppUrl('http://localhost:5174/', dev), false)
  assert.equal(isAppUrl('http://127.0.0.1:5173/', dev), false)
  assert.equal(isAppUrl(index, dev), false)
})

test('IPC sender check accepts only frames showing the app', () => {
  assert.equal(isTrustedSender({ senderFrame: { url: index } }, prod), true)
  assert.equal(isTrustedSender({ senderFrame: { url: 'https://evil.example/' } }, prod), false)
  assert.equal(isTrustedSender({ senderFrame: null }, prod), false)
  assert.equal(isTrustedSender({}, prod), false)
})

test('navigation and new windows are denied; https links go to the system browser', () => {
  assert.equal(allowNavigation(index, prod), true)
  assert.equal(allowNavigation('https://evil.example/', prod), false)
  assert.equal(allowNavigation('file:///etc/passwd', prod), false)
  assert.deepEqual(windowOpenDecision('https://onnx.ai/models'), { action: 'deny', openExternal: true })
  assert.deepEqual(windowOpenDecision('http://insecure.example/'), { action: 'deny', openExternal: false })
  assert.deepEqual(windowOpenDecision('file:///etc/passwd'), { action: 'deny', openExternal: false })
  assert.deepEqual(windowOpenDecision('javascript:alert(1)'), { action: 'deny', openExternal: false })
})
