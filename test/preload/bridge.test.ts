import { test } from 'node:test'
import assert from 'node:assert/strict'
import { buildBridge, type IpcLike } from '../../electron/preload/bridge.ts'
import { ContractError, methodNames } from '../../shared/contract.ts'
import { createBridgeTransport, createClient } from '../../shared/transport.ts'

function fakeIpc(replies: Record<string, unknown>) {
  const invoked: { channel: string; args: unknown[] }[] = []
  const handlers = new Map<string, Set<(e: unknown, ...a: unknown[]) => void>>()
  const ipc: IpcLike = {
    async invoke(channel, ...args) {
      invoked.push({ channel, args })
      return replies[channel] ?? { ok: true, value: null }
    },
    on(channel, l) {
      if (!handlers.has(channel)) handlers.set(channel, new Set())
      handlers.get(channel)!.add(l)
    },
    removeListener(channel, l) {
      handlers.get(channel)?.delete(l)
    },
  }
  return { ipc, invoked, send: (channel: string, payload: unknown) => handlers.get(channel)?.forEach((h) => h({ sender: 'x' }, payload)) }
}

test('window.qc has one named function per contract method plus onEvent and chooseSavePath, and nothing else', () => {
  const api = buildBridge(fakeIpc({}).ipc) as unknown as Record<string, unknown>
  assert.deepEqual(Object.keys(api).sort(), [...methodNames, 'onEvent', 'chooseSavePath'].sort())
  for (const v of Object.values(api)) assert.equal(typeof v, 'function')
  assert.ok(!('invoke' in api) && !('send' in api) && !('ipcRenderer' in api))
  assert.ok(Object.isFrozen(api))
})

test('calls go to the method channel; error replies keep their code through the typed client', async () => {
  const f = fakeIpc({
    'qc:call:listJobs': { ok: true, value: { jobs: [] } },
    'qc:call:listRuns': { ok: false, error: { code: 'no_project', message: 'no project is open' } },
  })
  const client = createClient(createBridgeTransport(buildBridge(f.ipc)))
  assert.deepEqual(await client.listJobs(), { jobs: [] })
  assert.deepEqual(f.invoked[0], { channel: 'qc:call:listJobs', args: [{}] })
  await assert.rejects(client.listRuns(), (e: unknown) => e instanceof ContractError && e.code === 'no_project')
})

test('onEvent passes only the payload (not the IPC event) and unsubscribes', () => {
  const f = fakeIpc({})
  const api = buildBridge(f.ipc)
  const got: unknown[] = []
  const off = api.onEvent((e) => got.push(e))
  f.send('qc:event', { type: 'project:closed', path: '/p' })
  off()
  f.send('qc:event', { type: 'project:closed', path: '/q' })
  assert.deepEqual(got, [{ type: 'project:closed', path: '/p' }])
})

test('chooseSavePath asks the main process on its own channel and returns the chosen path or null', async () => {
  const f = fakeIpc({ 'qc:dialog:save': { ok: true, value: '/data/p-labels.csv' } })
  const api = buildBridge(f.ipc)
  assert.equal(await api.chooseSavePath({ kind: 'file', extensions: ['csv'] }), '/data/p-labels.csv')
  const refused = buildBridge(fakeIpc({ 'qc:dialog:save': { ok: false, error: { code: 'forbidden', message: 'no' } } }).ipc)
  await assert.rejects(refused.chooseSavePath({ kind: 'folder' }), (e: unknown) => (e as { error: { code: string } }).error.code === 'forbidden')
})
