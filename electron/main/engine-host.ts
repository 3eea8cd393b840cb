/**
 * Supervises the engine's utilityProcess (VS Code's pattern for background work): starts it,
 * reports an unexpected exit to the windows (engine:crashed, restartable) and offers a restart,
 * and on quit asks it to stop, killing it after a timeout.
 */
import { utilityProcess, type UtilityProcess } from 'electron'
import type { EngineEvent } from '../../shared/contract.ts'
import type { FromEngine } from '../service/worker-protocol.ts'
import { EngineRpc } from './engine-rpc.ts'

export interface EngineHostOptions {
  /** The built utility entry (out/main/engine.js). */
  entry: string
  dataDir: string
  resourcesDir: string
  appVersion: string
  /** Called for every engine event and for engine:crashed. */
  onEvent(e: EngineEvent): void
  /** Called after an unexpected exit (main shows a dialog offering a restart). */
  onCrash?(reason: string): void
  /** Milliseconds to wait for a clean stop on quit before killing. */
  stopTimeoutMs?: number
}

export class EngineHost {
  readonly rpc = new EngineRpc()
  private child: UtilityProcess | null = null
  private stopping = false

  constructor(private readonly opts: EngineHostOptions) {
    this.rpc.onEvent(opts.onEvent)
  }

  /** Starts the engine process (no-op when running). */
  start(): void {
    if (this.child) return
    this.stopping = false
    const child = utilityProcess.fork(this.opts.entry, [], {
      serviceName: 'Seed QC engine',
      stdio: 'inherit',
      env: { ...process.env, QC_DATA_DIR: this.opts.dataDir, QC_RESOURCES: this.opts.resourcesDir, QC_APP_VERSION: this.opts.appVersion },
    })
    this.child = child
    this.rpc.attach((m) => child.postMessage(m))
    child.on('message', (m: unknown) => this.rpc.receive(m as FromEngine))
    child.on('exit', (code) => {
      if (this.child !== child) return
      this.child = null
      const expected = this.stopping
      const reason = expected ? 'the engine stopped' : `the engine process exited unexpectedly (code ${code})`
      this.rpc.failAll(reason)
      if (!expected) {
        this.opts.onEvent({ type: 'engine:crashed', reason, restartable: true })
        this.opts.onCrash?.(reason)
      }
    })
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.child !== null
  }

  /** Restarts after a crash; false when it was already running. */
  restart(): boolean {
    if (this.child) return false
    this.start()
    return true
  }

  /** Asks the engine to close its project and exit; kills it after the timeout. */
  async stop(): Promise<void> {
    const child = this.child
    if (!child) return
    this.stopping = true
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        child.kill()
        resolve()
      }, this.opts.stopTimeoutMs ?? 5000)
      child.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
      try {
        child.postMessage({ type: 'shutdown' })
      } catch {
        child.kill()
      }
    })
    this.child = null
  }
}
