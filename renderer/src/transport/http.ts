/**
 * Web-mode transport: POST /api/<method> with the session token in `x-qc-token`, server-sent
 * events from /api/events, images from /img/<sampleId>. The token arrives once in the page URL
 * (?token=...); it is kept in sessionStorage so a reload works, and removed from the address bar
 * so it does not end up in screenshots or the history.
 */
import type { AppTransport, EventListener } from './types.ts'

const TOKEN_KEY = 'qc.token'

/** Reads the token from the URL (moving it to sessionStorage) or from sessionStorage. */
export function takeToken(loc: Location = window.location): string {
  const url = new URL(loc.href)
  const fromUrl = url.searchParams.get('token')
  if (fromUrl) {
    try {
      sessionStorage.setItem(TOKEN_KEY, fromUrl)
    } catch {
      // storage disabled: the token then only lives in memory for this page
    }
    url.searchParams.delete('token')
    history.replaceState(history.state, '', url.pathname + url.search + url.hash)
    return fromUrl
  }
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? ''
  } catch {
    return ''
  }
}

/** Creates the HTTP + SSE transport for web mode. */
export function createHttpTransport(token: string, base = ''): AppTransport {
  const listeners = new Set<EventListener>()
  let source: EventSource | null = null

  function connect(): void {
    if (source || typeof EventSource === 'undefined') return
    source = new EventSource(`${base}/api/events?token=${encodeURIComponent(token)}`)
    source.onmessage = (m: MessageEvent<string>) => {
      let ev: unknown
      try {
        ev = JSON.parse(m.data)
      } catch {
        return
      }
      for (const l of listeners) l(ev)
    }
    // EventSource reconnects on its own after a network error; nothing to do here.
  }

  return {
    kind: 'web',
    async invoke(method: string, input: unknown): Promise<unknown> {
      let res: Response
      try {
        res = await fetch(`${base}/api/${encodeURIComponent(method)}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-qc-token': token },
          body: JSON.stringify(input ?? {}),
        })
      } catch (e) {
        throw new Error(`${method}: the server cannot be reached (${(e as Error).message})`)
      }
      const text = await res.text()
      let body: unknown = undefined
      if (text) {
        try {
          body = JSON.parse(text)
        } catch {
          body = text
        }
      }
      if (!res.ok) throw new Error(errorMessage(method, res, body))
      return body
    },
    subscribe(listener: EventListener): () => void {
      listeners.add(listener)
      connect()
      return () => {
        listeners.delete(listener)
        if (listeners.size === 0 && source) {
          source.close()
          source = null
        }
      }
    },
    imageUrl(sampleId: number, size: 'thumb' | 'full'): string {
      return `${base}/img/${sampleId}?size=${size}&token=${encodeURIComponent(token)}`
    },
  }
}

/** The message of a failed call: the contract's `{ error: { code, message } }` body, else the status. */
function errorMessage(method: string, res: Response, body: unknown): string {
  let msg = res.statusText || `HTTP ${res.status}`
  if (body && typeof body === 'object' && 'error' in body) {
    const err = (body as { error: unknown }).error
    if (typeof err === 'string') msg = err
    else if (err && typeof err === 'object' && 'message' in err) msg = String((err as { message: unknown }).message)
  } else if (typeof body === 'string' && body) {
    msg = body
  }
  if (res.status === 401) return `Not authorised: open the address printed by "qc serve", with its token (${msg})`
  return msg
}
