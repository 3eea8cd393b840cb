/**
 * The main process's side of the engine protocol (worker-protocol.ts), without Electron: request
 * ids, pending promises, events, and failing everything pending when the process goes away. The
 * Electron-specific supervisor (engine-host.ts) feeds it messages and exits. Unit-tested in plain
 * Node with a fake port.
 */
import type { EngineEvent } from '../../shared/contract.ts'
import type { FromEngine, ToEngine } from '../service/worker-protocol.ts'

/** An error reply, with the contract's error code. */
export class EngineError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'EngineError'
  }
}

export class EngineRpc {
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private readonly listeners = new Set<(e: EngineEvent) => void>()

  /** `send` posts a message to the engine process; null when no process is running. */
  constructor(private send: ((m: ToEngine) => void) | null = null) {}

  /** Points the client at a (new) process. */
  attach(send: (m: ToEngine) => void): void {
    this.send = send
  }

  /** Calls a contract method in the engine. */
  call(method: string, input: unknown): Promise<unknown> {
    return this.request((id) => ({ type: 'call', id, method, input }))
  }

  /** Asks the engine for the file of a sample image (null when not a registered image). */
  image(sampleId: number, size: 'thumb' | 'full'): Promise<{ file: string; mime: string } | null> {
    return this.request((id) => ({ type: 'image', id, sampleId, size })) as Promise<{ file: string; mime: string } | null>
  }

  private request(make: (id: number) => ToEngine): Promise<unknown> {
    const send = this.send
    if (!send) return Promise.reject(new EngineError('internal', 'the engine is not running (restart it)'))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      try {
        send(make(id))
      } catch (e) {
        this.pending.delete(id)
        reject(new EngineError('internal', `cannot reach the engine: ${(e as Error).message}`))
      }
    })
  }

  /** Handles one message from the engine. */
  receive(m: FromEngine): void {
    if (m.type === 'reply') {
      const p = this.pending.get(m.id)
      if (!p) return
      this.pending.delete(m.id)
      if (m.ok) p.resolve(m.value)
      else p.reject(new EngineError(m.error.code, m.error.message))
    } else if (m.type === 'event') {
      for (const l of this.listeners) l(m.event)
    }
  }

  /** Fails every pending request (the process exited) and detaches. */
  failAll(reason: string): void {
    this.send = null
    for (const [, p] of this.pending) p.reject(new EngineError('internal', reason))
    this.pending.clear()
  }

  /** Listens to engine events. */
  onEvent(listener: (e: EngineEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Requests waiting for a reply. */
  get pendingCount(): number {
    return this.pending.size
  }
}
