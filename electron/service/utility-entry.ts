/**
 * Entry of the engine's Electron utilityProcess: the service runs here, off the main process, and
 * talks to it through `process.parentPort` (worker-protocol.ts). It does not import 'electron'
 * (a utility process is plain Node plus parentPort).
 */
import { ContractError } from '../../shared/contract.ts'
import { createService } from './service.ts'
import { asContractError } from './service.ts'
import type { FromEngine, ToEngine } from './worker-protocol.ts'

interface ParentPort {
  on(event: 'message', listener: (e: { data: unknown }) => void): void
  postMessage(message: unknown): void
}

const port = (process as unknown as { parentPort?: ParentPort }).parentPort
if (!port) throw new Error('utility-entry.ts must run in an Electron utilityProcess')
const dataDir = process.env.QC_DATA_DIR
if (!dataDir) throw new Error('QC_DATA_DIR is not set for the engine process')

const service = createService({ dataDir, mode: 'electron', ...(process.env.QC_APP_VERSION ? { version: process.env.QC_APP_VERSION } : {}) })
const send = (m: FromEngine): void => port.postMessage(m)
service.subscribe((event) => send({ type: 'event', event }))

port.on('message', (e) => {
  const msg = e.data as ToEngine
  if (msg.type === 'call') {
    service.call(msg.method, msg.input).then(
      (value) => send({ type: 'reply', id: msg.id, ok: true, value }),
      (err: unknown) => {
        const ce = err instanceof ContractError ? err : asContractError(err)
        send({ type: 'reply', id: msg.id, ok: false, error: { code: ce.code, message: ce.message } })
      },
    )
  } else if (msg.type === 'image') {
    service.image(msg.sampleId, msg.size).then(
      (value) => send({ type: 'reply', id: msg.id, ok: true, value: value ?? null }),
      (err: unknown) =>
        send({ type: 'reply', id: msg.id, ok: false, error: { code: 'internal', message: err instanceof Error ? err.message : String(err) } }),
    )
  } else if (msg.type === 'shutdown') {
    void service.close().finally(() => {
      send({ type: 'stopped' })
      process.exit(0)
    })
  }
})
send({ type: 'ready' })
