/**
 * Messages between the Electron main process and the engine's utilityProcess
 * (utility-entry.ts). Plain JSON-able objects; no 'electron' import.
 */
import type { EngineEvent } from '../../shared/contract.ts'

/** main -> engine */
export type ToEngine =
  | { type: 'call'; id: number; method: string; input: unknown }
  | { type: 'image'; id: number; sampleId: number; size: 'thumb' | 'full' }
  | { type: 'shutdown' }

/** engine -> main */
export type FromEngine =
  | { type: 'ready' }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: { code: string; message: string } }
  | { type: 'event'; event: EngineEvent }
  | { type: 'stopped' }
