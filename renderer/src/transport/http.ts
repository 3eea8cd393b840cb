/**
 * Web mode: the contract's HTTP + server-sent-events transport, with the session token taken
 * from the page URL. The token arrives once (?token=... in the address "qc serve" prints); it is
 * kept in sessionStorage so a reload works, and removed from the address bar so it does not end
 * up in screenshots, bookmarks or the history.
 */
import { createHttpTransport, type Transport } from '../../../shared/transport.ts'

const TOKEN_KEY = 'qc.token'

/** Reads the token from the URL (moving it to sessionStorage) or from sessionStorage. */
export function takeToken(loc: Location = window.location): string {
  const url = new URL(loc.href)
  const fromUrl = url.searchParams.get('token')
  if (fromUrl) {
    try {
      window.sessionStorage.setItem(TOKEN_KEY, fromUrl)
    } catch {
      // storage disabled: the token then only lives in memory for this page
    }
    url.searchParams.delete('token')
    window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash)
    return fromUrl
  }
  try {
    return window.sessionStorage.getItem(TOKEN_KEY) ?? ''
  } catch {
    return ''
  }
}

/** The web-mode transport for this page (same origin as the server). */
export function createWebTransport(token: string = takeToken()): Transport {
  return createHttpTransport({ token })
}
