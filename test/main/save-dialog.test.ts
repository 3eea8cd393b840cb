import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pathToFileURL } from 'node:url'
import { makeSaveDialogHandler, saveDialogOptions } from '../../electron/main/save-dialog.ts'
import { appLocation } from '../../electron/main/security.ts'
import type { SaveDialogRequest } from '../../shared/dialog.ts'

const app = appLocation(undefined, '/opt/qc/out/renderer')
const own = { senderFrame: { url: pathToFileURL('/opt/qc/out/renderer/index.html').href } }

function handler(answer: string | null) {
  const shown: SaveDialogRequest[] = []
  const refused: string[] = []
  const h = makeSaveDialogHandler({ app, show: async (req) => (shown.push(req), answer), onRefused: (w) => refused.push(w) })
  return { h, shown, refused }
}

test('the app asks for a file: the dialog opens with its request and the chosen path comes back', async () => {
  const { h, shown } = handler('/data/line-3/labels.csv')
  const reply = await h(own, { kind: 'file', defaultPath: '/data/line-3/p-labels.csv', extensions: ['csv'] })
  assert.deepEqual(reply, { ok: true, value: '/data/line-3/labels.csv' })
  assert.deepEqual(shown, [{ kind: 'file', defaultPath: '/data/line-3/p-labels.csv', extensions: ['csv'] }])
  assert.deepEqual(await handler(null).h(own, { kind: 'folder' }), { ok: true, value: null }, 'cancelled: null')
})

test('another frame, or a request with options of its own, never opens a dialog', async () => {
  const { h, shown, refused } = handler('/x')
  const foreign = await h({ senderFrame: { url: 'https://evil.example/' } }, { kind: 'file' })
  assert.equal(!foreign.ok && foreign.error.code, 'forbidden')
  for (const bad of [{ kind: 'file', properties: ['openFile'] }, { kind: 'exe' }, { kind: 'file', extensions: ['../x'] }, null]) {
    const r = await h(own, bad)
    assert.equal(!r.ok && r.error.code, 'bad_request', JSON.stringify(bad))
  }
  assert.equal(shown.length, 0)
  assert.equal(refused.length, 5)
})

test('dialog options: a file gets its extension filter, a folder none; never an overwrite prompt of its own', () => {
  assert.deepEqual(saveDialogOptions({ kind: 'file', extensions: ['csv'], title: 'Save' }), {
    title: 'Save',
    filters: [{ name: 'CSV', extensions: ['csv'] }],
    properties: ['createDirectory'],
  })
  assert.deepEqual(saveDialogOptions({ kind: 'folder', defaultPath: '/d/p-cleaned' }), {
    defaultPath: '/d/p-cleaned',
    properties: ['createDirectory'],
  })
})
