/**
 * The Content-Security-Policy of the app's pages, shared by the Electron window (response header
 * and meta tag) and web mode's server. Pure, so it lives in shared/: main and server may both import
 * shared/ but not each other (eslint.config.js).
 *
 * Scripts only from the app itself (no inline script, no eval); styles from the app plus inline
 * style attributes (Vue's :style bindings); images from the app, data:/blob: (chart exports) and,
 * in Electron, the qc-img: protocol; no plugins, no framing, no form posts, no <base>.
 */
export function contentSecurityPolicy(opts: { mode: 'web' | 'electron'; dev?: boolean; devServer?: string } = { mode: 'web' }): string {
  const self = "'self'"
  const img = [self, 'data:', 'blob:']
  if (opts.mode === 'electron') img.push('qc-img:')
  const connect = [self]
  const script = [self]
  if (opts.dev && opts.devServer) {
    // Vite's dev server: module scripts and its HMR websocket.
    connect.push(opts.devServer, opts.devServer.replace(/^http/, 'ws'))
    script.push(opts.devServer)
  }
  return [
    `default-src ${self}`,
    `script-src ${script.join(' ')}`,
    `style-src ${self} 'unsafe-inline'`,
    `img-src ${img.join(' ')}`,
    `font-src ${self} data:`,
    `connect-src ${connect.join(' ')}`,
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'none'",
    "worker-src 'self' blob:",
  ].join('; ')
}
