import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pathToFileURL } from 'node:url'
import { makeIpcHandler } from '../../electron/main/ipc-handler.ts'
import { appLocation } from '../../electron/main/security.ts'
import { ContractError } from '../../shared/contract.ts'

const app = appLocation(undefined, '/opt/qc/out/renderer')
const own = { senderFrame: { url: pathToFileURL('/opt/qc/out/renderer/index.html').href } }

function recorder() {
  const calls: { method: string; input: unknown }[] = []
  const refused: string[] = []
  return {
    calls,
    refused,
    deps: {
      app,
      call: async (method: string, input: unknown) => {
        calls.push({ method, input })
        if (method === 'openProject') throw new ContractError('not_found', '/x.qcdb: no such project file')
        return { ok: 1 }
      },
      onRefused: (m: string, why: string) => refused.push(`${m}: ${why}`),
    },
  }
}

test('a valid call from the app reaches the engine with the parsed input (defaults filled in)', async () => {
  const r = recorder()
  const reply = await makeIpcHandler('querySamples', r.deps)(own, { flagged: true })
  assert.deepEqual(reply, { ok: true, value: { ok: 1 } })
  assert.deepEqual(r.calls, [{ method: 'querySamples', input: { flagged: true, offset: 0, limit: 200 } }])
})

test('a message from another frame never reaches the engine', async () => {
  const r = recorder()
  const reply = await makeIpcHandler('closeProject', r.deps)({ senderFrame: { url: 'https://evil.example/' } }, {})
  assert.equal(reply.ok, false)
  assert.equal(!reply.ok && reply.error.code, 'forbidden')
  assert.equal(r.calls.length, 0)
  assert.equal(r.refused.length, 1)
  const none = await makeIpcHandler('closeProject', r.deps)({ senderFrame: null }, {})
  assert.equal(!none.ok && none.error.code, 'forbidden')
})

test('an invalid payload is refused with the field named, before the engine', async () => {
  const r = recorder()
  const reply = await makeIpcHandler('review', r.deps)(own, { sampleId: -1, action: 'delete', reviewer: '' })
  assert.equal(reply.ok, false)
  if (!reply.ok) {
    assert.equal(reply.error.code, 'bad_request')
    assert.match(reply.error.message, /sampleId/)
    assert.match(reply.error.message, /action/)
  }
  const relabel = await makeIpcHandler('review', r.deps)(own, { sampleId: 3, action: 'relabel', reviewer: 'ana' })
  assert.match(!relabel.ok ? relabel.error.message : '', /relabel needs classIdx/)
  const extra = await makeIpcHandler('appInfo', r.deps)(own, { evil: true })
  assert.equal(extra.ok, false, 'unknown keys are refused for empty inputs')
  const unknown = await makeIpcHandler('rmRf', r.deps)(own, {})
  assert.equal(!unknown.ok && unknown.error.code, 'not_found')
  assert.equal(r.calls.length, 0)
})

test('engine errors come back as values with their contract code', async () => {
  const r = recorder()
  const reply = await makeIpcHandler('openProject', r.deps)(own, { path: '/x.qcdb' })
  assert.deepEqual(reply, { ok: false, error: { code: 'not_found', message: '/x.qcdb: no such project file' } })
})
