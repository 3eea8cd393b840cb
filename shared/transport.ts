/**
 * Transports and the typed client. The client's methods are derived from the contract (a mapped
 * type over its keys, built by iterating `methodNames` at runtime), so adding a method to the
 * contract adds it here, to the preload and to the server with no second copy.
 *
 * Two transports: HTTP + server-sent events (web mode, `createHttpTransport`) and the Electron
 * preload bridge (`createBridgeTransport(window.qc)`).
 */
import { z } from 'zod'
import {
  contract,
  jobResults,
  methodNames,
  ContractError,
  EngineEvent,
  ErrorBody,
  type ClientEvent,
  type ClientOutputOf,
  type ErrorCode,
  type ImageSize,
  type InputOf,
  type JobCompleted,
  type MethodName,
} from './contract.ts'
import type { SaveDialogRequest } from './dialog.ts'

/** Moves requests and events between the UI and the engine. Payloads are plain JSON values. */
export interface Transport {
  /** Calls a method; resolves with the raw response, rejects with a ContractError. */
  invoke(method: string, input: unknown): Promise<unknown>
  /** Listens to engine events; returns an unsubscribe function. */
  subscribe(listener: (event: unknown) => void): () => void
  /** URL of a sample's image for <img src>, or null where the transport cannot serve images. */
  imageUrl?(sampleId: number, size: ImageSize): string
  /** URL that downloads the file a finished export job wrote (web mode); absent where files are local. */
  exportDownloadUrl?(jobId: string): string
  /** A native save dialog (desktop app): the chosen path, or null when cancelled. */
  chooseSavePath?(req: SaveDialogRequest): Promise<string | null>
}

/** A method of the client: the input may be omitted when every field is optional. */
// `{} extends T` asks "is every field of T optional?", which is the point here.
type ClientMethod<K extends MethodName> =
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  {} extends InputOf<K> ? (input?: InputOf<K>) => Promise<ClientOutputOf<K>> : (input: InputOf<K>) => Promise<ClientOutputOf<K>>

/** The typed client: one function per contract method, plus events and image URLs. */
export type Client = { [K in MethodName]: ClientMethod<K> } & {
  /** Listens to validated engine events (job results checked by kind, see `toClientEvent`); returns an unsubscribe function. */
  onEvent(listener: (event: ClientEvent) => void): () => void
  /** URL for a sample's image (thumbnail or full size). */
  imageUrl(sampleId: number, size?: ImageSize): string
  /** URL that downloads what a finished CSV or JSON export job wrote (web mode), or null where the file is local. */
  exportDownloadUrl(jobId: string): string | null
  /** The desktop app's save dialog: the chosen path, or null when cancelled; absent in web mode. */
  chooseSavePath?: (req: SaveDialogRequest) => Promise<string | null>
}

/**
 * What the Electron preload exposes as `window.qc`: one named function per contract method and
 * `onEvent`. Derived from the contract, so the renderer's `window` type cannot drift.
 */
export type QcBridge = { [K in MethodName]: (input?: unknown) => Promise<unknown> } & {
  onEvent(listener: (event: unknown) => void): () => void
  /** The native save dialog (shared/dialog.ts); the main process validates the request. */
  chooseSavePath(req: SaveDialogRequest): Promise<string | null>
}

function formatIssues(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ')
}

/** Converts whatever a transport rejected with into a ContractError. */
export function toContractError(e: unknown): ContractError {
  if (e instanceof ContractError) return e
  const body = ErrorBody.safeParse(e)
  if (body.success) return new ContractError(body.data.error.code, body.data.error.message)
  if (e && typeof e === 'object' && 'code' in e && 'message' in e && typeof (e as { message: unknown }).message === 'string') {
    const code = (e as { code: unknown }).code
    const known = ['bad_request', 'not_found', 'no_project', 'conflict', 'cancelled', 'unauthorized', 'forbidden', 'internal']
    if (typeof code === 'string' && known.includes(code)) return new ContractError(code as ErrorCode, (e as { message: string }).message)
  }
  return new ContractError('internal', e instanceof Error ? e.message : String(e))
}

/**
 * Checks an event from the engine: the envelope against `EngineEvent`, and a completed job's result
 * against `jobResults[job.kind]` (defaults filled in). Returns null for anything that is not an
 * event. A completion whose result does not match its kind comes back as `job:failed` with the
 * mismatch as the error, so whoever waits for that job fails loudly instead of receiving a value
 * of the wrong shape.
 */
export function toClientEvent(raw: unknown): ClientEvent | null {
  const parsed = EngineEvent.safeParse(raw)
  if (!parsed.success) return null
  const e = parsed.data
  if (e.type !== 'job:completed') return e
  const result = jobResults[e.job.kind].safeParse(e.result)
  if (!result.success) {
    const error = `${e.job.label}: the ${e.job.kind} result does not match the contract: ${formatIssues(result.error)}`
    return { type: 'job:failed', job: { ...e.job, status: 'failed', error } }
  }
  // The schema was picked by e.job.kind, so the result belongs to that kind (TypeScript cannot
  // follow a schema chosen by a runtime key).
  return { type: 'job:completed', job: e.job, result: result.data } as JobCompleted
}

/**
 * Builds the typed client over a transport. Inputs are validated before sending (an early, clear
 * error), responses after receiving and job results by their kind (a server that drifted from the
 * contract fails loudly).
 */
export function createClient(transport: Transport): Client {
  const client: Record<string, unknown> = {}
  for (const name of methodNames) {
    const def = contract[name]
    client[name] = async (input: unknown = {}) => {
      const parsed = def.input.safeParse(input)
      if (!parsed.success) throw new ContractError('bad_request', `${name}: ${formatIssues(parsed.error)}`)
      let raw: unknown
      try {
        raw = await transport.invoke(name, parsed.data)
      } catch (e) {
        throw toContractError(e)
      }
      const out = def.output.safeParse(raw)
      if (!out.success) throw new ContractError('internal', `${name}: response does not match the contract: ${formatIssues(out.error)}`)
      const job = 'job' in def ? def.job : undefined
      if (job !== undefined && (out.data as { kind: unknown }).kind !== job) {
        const kind = String((out.data as { kind: unknown }).kind)
        throw new ContractError('internal', `${name}: response does not match the contract: it started a job of kind ${kind}, not ${job}`)
      }
      return out.data
    }
  }
  client.onEvent = (listener: (event: ClientEvent) => void) =>
    transport.subscribe((raw) => {
      const ev = toClientEvent(raw)
      if (ev) listener(ev)
    })
  client.imageUrl = (sampleId: number, size: ImageSize = 'thumb') => transport.imageUrl?.(sampleId, size) ?? ''
  client.exportDownloadUrl = (jobId: string) => transport.exportDownloadUrl?.(jobId) ?? null
  if (transport.chooseSavePath) {
    const choose = transport.chooseSavePath.bind(transport)
    client.chooseSavePath = async (req: SaveDialogRequest) => {
      try {
        return await choose(req)
      } catch (e) {
        throw toContractError(e)
      }
    }
  }
  return client as Client
}

/** Minimal shapes of the browser APIs the HTTP transport needs (so shared/ needs no DOM lib). */
interface FetchLike {
  (
    url: string,
    init: { method: string; headers: Record<string, string>; body: string },
  ): Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>
}
interface EventSourceLike {
  onmessage: ((e: { data: string }) => void) | null
  close(): void
}
type EventSourceCtor = new (url: string) => EventSourceLike

/**
 * Web-mode transport: POST /api/<method> with the token header, GET /api/events as server-sent
 * events (one shared EventSource, opened on the first subscriber), images from /img/<id>.
 */
export function createHttpTransport(opts: { token: string; baseUrl?: string; fetch?: FetchLike; EventSource?: EventSourceCtor }): Transport {
  const base = (opts.baseUrl ?? '').replace(/\/$/, '')
  const g = globalThis as unknown as { fetch?: FetchLike; EventSource?: EventSourceCtor }
  const doFetch = opts.fetch ?? g.fetch
  const ES = opts.EventSource ?? g.EventSource
  const listeners = new Set<(e: unknown) => void>()
  let source: EventSourceLike | null = null
  const tokenQuery = `token=${encodeURIComponent(opts.token)}`
  return {
    async invoke(method, input) {
      if (!doFetch) throw new ContractError('internal', 'fetch is not available')
      const res = await doFetch(`${base}/api/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-qc-token': opts.token },
        body: JSON.stringify(input ?? {}),
      })
      let body: unknown
      try {
        body = await res.json()
      } catch {
        throw new ContractError('internal', `${method}: HTTP ${res.status} without a JSON body`)
      }
      if (!res.ok) throw toContractError(body)
      return body
    },
    subscribe(listener) {
      listeners.add(listener)
      if (!source && ES) {
        source = new ES(`${base}/api/events?${tokenQuery}`)
        source.onmessage = (e) => {
          let data: unknown
          try {
            data = JSON.parse(e.data)
          } catch {
            return
          }
          for (const l of listeners) l(data)
        }
      }
      return () => {
        listeners.delete(listener)
        if (listeners.size === 0 && source) {
          source.close()
          source = null
        }
      }
    },
    imageUrl(sampleId, size) {
      return `${base}/img/${sampleId}?size=${size}&${tokenQuery}`
    },
    exportDownloadUrl(jobId) {
      return `${base}/export/${encodeURIComponent(jobId)}?${tokenQuery}`
    },
  }
}

/** Electron transport over the preload bridge (`window.qc`); images through the qc-img:// protocol. */
export function createBridgeTransport(bridge: QcBridge): Transport {
  return {
    invoke(method, input) {
      const fn = (bridge as unknown as Record<string, ((i: unknown) => Promise<unknown>) | undefined>)[method]
      if (typeof fn !== 'function') return Promise.reject(new ContractError('bad_request', `unknown method ${method}`))
      return fn(input)
    },
    subscribe(listener) {
      return bridge.onEvent(listener)
    },
    imageUrl(sampleId, size) {
      return `qc-img://sample/${sampleId}?size=${size}`
    },
    ...(typeof bridge.chooseSavePath === 'function' ? { chooseSavePath: (req: SaveDialogRequest) => bridge.chooseSavePath(req) } : {}),
  }
}
