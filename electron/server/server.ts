/**
 * Web mode: the same renderer and the same contract over HTTP on loopback (node:http, no
 * framework).
 *
 *   GET  /, /assets/...        the built renderer (dist/web), no token needed (it is public code)
 *   POST /api/<method>         JSON in, JSON out, validated by the contract; header x-qc-token
 *   GET  /api/events           server-sent events (EngineEvent as JSON); ?token= or header
 *   GET  /img/<sampleId>       ?size=thumb|full; only samples registered in the open project
 *   GET  /export/<jobId>       the CSV or JSON file a finished export job of this server wrote
 *                              (a download; ?token= or header), nothing else
 *
 * Security: binds 127.0.0.1 unless `allowRemote`; a random token (crypto.randomBytes) is required
 * on every /api and /img request (401); a request whose Origin is not the server's own is refused
 * (403), and on loopback so is a Host that is not loopback (DNS rebinding); static files are
 * resolved inside the web root only, by real path (a symbolic link out of it is not followed);
 * images are named by sample id only, never by path.
 *
 * Robustness: every file is opened before the reply starts and sent from that descriptor, so a
 * file that is missing, unreadable, not a regular file or deleted meanwhile answers 404/500 and
 * the server lives on; a read error after the headers ends that reply only. A request body over
 * the limit answers 413.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { spawn } from 'node:child_process'
import { createReadStream, existsSync, realpathSync, statSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { basename, extname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ContractError, ImageSize, type ErrorCode } from '../../shared/contract.ts'
import { contentSecurityPolicy } from '../../shared/csp.ts'
import { createService, type Service } from '../service/service.ts'

export interface ServerOptions {
  /** Port; 0 picks a free one. Default 0. */
  port?: number
  /** Interface to bind. Default 127.0.0.1. Anything not loopback needs `allowRemote`. */
  host?: string
  /** App data folder (recent projects, demo, caches). */
  dataDir: string
  /**
   * Dataset folders the API may use besides the data folder (`qc serve --root DIR`). Web mode is
   * always confined: every path a method accepts must lie, by real path, under the data folder or
   * one of these; default none (the data folder only). Ignored when `service` is given.
   */
  roots?: string[]
  /** Allow binding a non-loopback interface (prints a warning). */
  allowRemote?: boolean
  /** Inference servers a remote backbone may use (`qc serve --allow-backbone-server`; default none). Ignored when `service` is given. */
  backboneServers?: string[]
  /** Built renderer folder. Default: <repo>/dist/web. */
  webRoot?: string
  /**
   * When the default web root has no build yet (a fresh clone), build it in the background
   * (`vite build --config vite.web.config.ts`) while a self-reloading "building" page is served.
   * Default: true when `webRoot` is not given.
   */
  autoBuild?: boolean
  /** Fixed token (tests); default 32 random bytes, hex. */
  token?: string
  /** Use this service instead of creating one over dataDir. */
  service?: Service
  /** Where warnings go. Default console.warn. */
  warn?: (message: string) => void
}

export interface RunningServer {
  /** The URL to open, with the token: http://127.0.0.1:PORT/?token=... */
  url: string
  /** Origin without the token. */
  origin: string
  port: number
  host: string
  token: string
  service: Service
  /** Stops accepting, ends event streams, closes the service. */
  close(): Promise<void>
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost'])
const MAX_BODY = 10 * 1024 * 1024
const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  not_found: 404,
  no_project: 409,
  conflict: 409,
  cancelled: 409,
  unauthorized: 401,
  forbidden: 403,
  internal: 500,
}
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
}

/** Default location of the built renderer: <repo>/dist/web. */
export function defaultWebRoot(): string {
  return resolve(fileURLToPath(new URL('../../dist/web', import.meta.url)))
}

/**
 * Builds the web renderer in a child process (vite build), resolving with its exit code. Used when
 * `npm run serve` runs on a fresh clone before anyone ran `npm run build:web`.
 */
export function buildWebApp(log: (m: string) => void): Promise<number> {
  const repo = fileURLToPath(new URL('../..', import.meta.url))
  const vite = join(repo, 'node_modules', 'vite', 'bin', 'vite.js')
  log('Building the web app (first start, about a minute)...')
  return new Promise((ok) => {
    const child = spawn(process.execPath, [vite, 'build', '--config', 'vite.web.config.ts', '--logLevel', 'error'], {
      cwd: repo,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let err = ''
    child.stderr.on('data', (c: Buffer) => (err += c.toString()))
    child.on('error', (e) => {
      log(`building the web app failed: ${e.message}`)
      ok(1)
    })
    child.on('exit', (code) => {
      if (code === 0) log('Web app built.')
      else log(`building the web app failed (exit ${code}): ${err.trim().split('\n').slice(-5).join('\n')}`)
      ok(code ?? 1)
    })
  })
}

/**
 * True for the loopback names this server accepts: exactly 127.0.0.1, ::1 or localhost. Not any
 * name starting with "127." (127.evil.com is a DNS name that can point anywhere).
 */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host)
}

/**
 * Resolves a request path to a file inside `root`, or null when the path is malformed or would
 * leave the root: '..' segments (raw or percent-encoded), encoded slashes or backslashes, NUL,
 * drive letters and absolute paths are all refused.
 */
export function resolveStatic(root: string, rawPath: string): string | null {
  // Encoded separators and dots are never needed by the app's own files: refuse them outright.
  if (/%2f|%5c|%00|%2e/i.test(rawPath)) return null
  let decoded: string
  try {
    decoded = decodeURIComponent(rawPath)
  } catch {
    return null
  }
  if (decoded.includes('\0') || decoded.includes('\\') || /^\/*[a-zA-Z]:/.test(decoded)) return null
  const segments = decoded.split('/').filter((s) => s !== '')
  if (segments.some((s) => s === '..' || s === '.')) return null
  const base = resolve(root)
  const file = resolve(base, ...segments)
  const rel = relative(base, file)
  if (rel.startsWith('..') || isAbsolute(rel)) return null
  return file
}

function tokensEqual(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(data) })
  res.end(data)
}

function sendError(res: ServerResponse, code: ErrorCode, message: string): void {
  sendJson(res, STATUS[code], { error: { code, message } })
}

/** A request body over MAX_BODY (413). */
class BodyTooLarge extends Error {}

/** How much of an oversized body is read and thrown away so the client can read the 413. */
const MAX_DISCARD = 64 * 1024 * 1024

/**
 * Reads a request body up to `max` bytes. Over the limit (by content-length or as it arrives) it
 * rejects with BodyTooLarge and reads the rest without keeping it (up to MAX_DISCARD more, then
 * the connection is dropped), so that the 413 reply reaches the client instead of a reset.
 */
function readBody(req: IncomingMessage, max = MAX_BODY): Promise<string> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = []
    let size = 0
    let over = false
    const tooLarge = (): void => {
      over = true
      chunks.length = 0
      fail(new BodyTooLarge(`request body over ${max} bytes`))
    }
    const declared = Number(req.headers['content-length'])
    if (Number.isFinite(declared) && declared > max) tooLarge()
    req.on('data', (c: Buffer) => {
      size += c.length
      if (over) {
        if (size > max + MAX_DISCARD) req.destroy()
        return
      }
      if (size > max) return tooLarge()
      chunks.push(c)
    })
    req.on('end', () => {
      if (!over) ok(Buffer.concat(chunks).toString('utf8'))
    })
    req.on('error', (e) => {
      if (!over) fail(e)
    })
  })
}

/** True when `p` is a regular file now (never throws). */
function isRegularFile(p: string): boolean {
  try {
    return statSync(p).isFile()
  } catch {
    return false
  }
}

/** Codes of a file that is not there (or not a file we may read): 404 rather than 500. */
const GONE = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'EISDIR', 'ENAMETOOLONG'])

/**
 * Opens `file` for reading, checked to be a regular file (on the opened descriptor, so a swap
 * between check and read is impossible); a status and a message (no path) when it cannot be served.
 */
async function openRegular(file: string): Promise<{ fh: FileHandle; size: number } | { status: 404 | 500; message: string }> {
  let fh: FileHandle
  try {
    fh = await open(file, 'r')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? ''
    return GONE.has(code) ? { status: 404, message: 'file not found' } : { status: 500, message: `cannot read file (${code || 'error'})` }
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) {
      await fh.close()
      return { status: 404, message: 'not a regular file' }
    }
    return { fh, size: st.size }
  } catch (e) {
    await fh.close().catch(() => undefined)
    return { status: 500, message: `cannot read file (${(e as NodeJS.ErrnoException).code ?? 'error'})` }
  }
}

/**
 * Sends an opened file as the body; `headers` are written only now. A read error after the
 * headers ends this reply (the client sees a cut response), never the process.
 */
function pipeFile(res: ServerResponse, fh: FileHandle, status: number, headers: Record<string, string | number>, headOnly = false): void {
  res.writeHead(status, headers)
  if (headOnly) {
    void fh.close().catch(() => undefined)
    return void res.end()
  }
  const stream = createReadStream('', { fd: fh, autoClose: true })
  stream.on('error', () => {
    stream.destroy()
    res.destroy()
  })
  // A client that goes away mid-reply closes the file too.
  res.on('close', () => {
    if (!stream.destroyed) stream.destroy()
  })
  stream.pipe(res)
}

/** Starts web mode. Resolves once listening. */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const host = opts.host ?? '127.0.0.1'
  const warn = opts.warn ?? ((m: string) => console.warn(m))
  if (!isLoopback(host) && !opts.allowRemote) {
    throw new Error(`refusing to bind ${host}: only 127.0.0.1 is allowed unless remote access is enabled explicitly (--allow-remote)`)
  }
  const token = opts.token ?? randomBytes(32).toString('hex')
  const webRoot = resolve(opts.webRoot ?? defaultWebRoot())
  const service =
    opts.service ??
    createService({
      dataDir: opts.dataDir,
      mode: 'web',
      roots: opts.roots ?? [],
      ...(opts.backboneServers ? { backboneServers: opts.backboneServers } : {}),
    })
  const csp = contentSecurityPolicy({ mode: 'web' })
  const streams = new Set<ServerResponse>()
  // Files finished export jobs wrote, by job id: the only files /export/<jobId> serves. The path
  // passed the service's confinement when the job started; nothing from the request names a path.
  const exported = new Map<string, { out: string; format: string }>()
  const offExports = service.subscribe((e) => {
    if (e.type !== 'job:completed' || e.job.kind !== 'export') return
    const r = e.result as { out?: unknown; format?: unknown }
    if (typeof r.out !== 'string' || typeof r.format !== 'string') return
    exported.set(e.job.id, { out: r.out, format: r.format })
    if (exported.size > 100) exported.delete(exported.keys().next().value!)
  })
  let port = 0
  let building = false

  /** Origins this server accepts: its own (by IP and by 'localhost' on loopback). */
  function originAllowed(origin: string, hostHeader: string | undefined): boolean {
    if (isLoopback(host)) return origin === `http://127.0.0.1:${port}` || origin === `http://localhost:${port}` || origin === `http://[::1]:${port}`
    // Remote: the page is served by us under whatever name the client used.
    return hostHeader !== undefined && origin === `http://${hostHeader}`
  }
  function hostAllowed(hostHeader: string | undefined): boolean {
    if (!isLoopback(host)) return true
    if (!hostHeader) return true
    return hostHeader === `127.0.0.1:${port}` || hostHeader === `localhost:${port}` || hostHeader === `[::1]:${port}`
  }

  function authorised(req: IncomingMessage, url: URL, allowQuery: boolean): boolean {
    const header = req.headers['x-qc-token']
    const given = typeof header === 'string' ? header : allowQuery ? url.searchParams.get('token') : null
    return given !== null && tokensEqual(given, token)
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST')
      return sendError(res, 'bad_request', `${req.method} not allowed on /api/${method}; use POST`)
    }
    const ctype = req.headers['content-type'] ?? ''
    if (!/^application\/json\b/i.test(ctype)) return sendError(res, 'bad_request', 'content-type must be application/json')
    let input: unknown
    try {
      const text = await readBody(req)
      input = text.trim() === '' ? {} : (JSON.parse(text) as unknown)
    } catch (e) {
      if (e instanceof BodyTooLarge) {
        // The rest of the body is still read (and dropped): the client gets this reply, not a reset.
        return sendJson(res, 413, { error: { code: 'bad_request', message: e.message } })
      }
      return sendError(res, 'bad_request', e instanceof ContractError ? e.message : `request body is not valid JSON (${(e as Error).message})`)
    }
    try {
      sendJson(res, 200, await service.call(method, input))
    } catch (e) {
      const err = e instanceof ContractError ? e : new ContractError('internal', e instanceof Error ? e.message : String(e))
      sendError(res, err.code, err.message)
    }
  }

  function handleEvents(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    res.write('retry: 2000\n\n')
    streams.add(res)
    const off = service.subscribe((e) => {
      res.write(`event: message\ndata: ${JSON.stringify(e)}\n\n`)
    })
    // A comment line keeps proxies and idle timeouts from closing the stream.
    const ping = setInterval(() => res.write(': ping\n\n'), 15000)
    ping.unref()
    const end = (): void => {
      clearInterval(ping)
      off()
      streams.delete(res)
    }
    req.on('close', end)
    res.on('close', end)
  }

  async function handleImage(req: IncomingMessage, res: ServerResponse, url: URL, idPart: string): Promise<void> {
    if (!/^[1-9][0-9]{0,15}$/.test(idPart)) return sendError(res, 'not_found', 'images are addressed by sample id only')
    const size = ImageSize.safeParse(url.searchParams.get('size') ?? 'thumb')
    if (!size.success) return sendError(res, 'bad_request', 'size must be thumb or full')
    let img
    try {
      img = await service.image(Number(idPart), size.data)
    } catch (e) {
      return sendError(res, 'internal', `cannot read image of sample ${idPart}: ${(e as Error).message}`)
    }
    if (!img) return sendError(res, 'not_found', `no image for sample ${idPart} in the open project`)
    const f = await openRegular(img.file)
    if ('status' in f) return sendError(res, f.status === 404 ? 'not_found' : 'internal', `image of sample ${idPart}: ${f.message}`)
    pipeFile(
      res,
      f.fh,
      200,
      {
        'content-type': img.mime,
        'content-length': f.size,
        'cache-control': 'private, max-age=300',
        'x-content-type-options': 'nosniff',
      },
      req.method === 'HEAD',
    )
  }

  /** Sends the file an export job wrote, as a download. */
  async function handleExportDownload(req: IncomingMessage, res: ServerResponse, idPart: string): Promise<void> {
    const done = /^[0-9a-f-]{36}$/.test(idPart) ? exported.get(idPart) : undefined
    if (!done) return sendError(res, 'not_found', 'no finished export with this id on this server')
    if (done.format !== 'csv' && done.format !== 'json')
      return sendError(res, 'bad_request', `an ${done.format} export is a folder; it was written to ${done.out} on the server`)
    const f = await openRegular(done.out)
    if ('status' in f) return sendError(res, f.status === 404 ? 'not_found' : 'internal', `the exported file: ${f.message}`)
    // A plain ASCII name in the header (RFC 6266), the full name percent-encoded beside it.
    const name = basename(done.out)
    const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_')
    pipeFile(
      res,
      f.fh,
      200,
      {
        'content-type': done.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8',
        'content-length': f.size,
        'content-disposition': `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      },
      req.method === 'HEAD',
    )
  }

  /** The web root's real path (it may appear later, when the build finishes). */
  function realWebRoot(): string | null {
    try {
      return realpathSync(webRoot)
    } catch {
      return null
    }
  }

  /** `file` when its real path lies inside the web root's real path; null otherwise (or missing). */
  function confined(file: string): string | null {
    const root = realWebRoot()
    if (root === null) return null
    let real: string
    try {
      real = realpathSync(file)
    } catch {
      return null
    }
    const rel = relative(root, real)
    return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? null : real
  }

  async function handleStatic(req: IncomingMessage, res: ServerResponse, rawPath: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 'bad_request', `${req.method} not allowed`)
    let file = resolveStatic(webRoot, rawPath === '/' ? '/index.html' : rawPath)
    if (file === null) return sendError(res, 'bad_request', 'malformed or forbidden path')
    if (!isRegularFile(file)) {
      // Client-side routes (no extension) get the app; missing assets get 404.
      const index = join(webRoot, 'index.html')
      if (extname(file) === '' || file === index) file = index
      else return sendError(res, 'not_found', 'not found')
    }
    if (!existsSync(file)) {
      const msg = building
        ? `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="3"><title>Seed QC</title><p>Building the web app (first start)... this page reloads itself.</p>`
        : `<!doctype html><meta charset="utf-8"><title>Seed QC</title><p>The web app is not built yet: run <code>npm run build:web</code>, then reload.</p>`
      res.writeHead(503, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': csp,
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer',
      })
      res.end(msg)
      return
    }
    // Lexically inside; now by real path too: a symbolic link out of the web root is not followed.
    const real = confined(file)
    if (real === null) return sendError(res, 'not_found', 'not found')
    const f = await openRegular(real)
    if ('status' in f) return sendError(res, f.status === 404 ? 'not_found' : 'internal', f.message)
    const isHtml = extname(file) === '.html'
    pipeFile(
      res,
      f.fh,
      200,
      {
        'content-type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
        'content-length': f.size,
        'cache-control': isHtml ? 'no-store' : 'public, max-age=3600',
        'content-security-policy': csp,
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        // The token travels in the page URL: never leak it in a Referer header.
        'referrer-policy': 'no-referrer',
        'cross-origin-opener-policy': 'same-origin',
      },
      req.method === 'HEAD',
    )
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const rawUrl = req.url ?? '/'
      const qIdx = rawUrl.indexOf('?')
      const rawPath = qIdx >= 0 ? rawUrl.slice(0, qIdx) : rawUrl
      let url: URL
      try {
        url = new URL(rawUrl.startsWith('/') ? rawUrl : `/${rawUrl}`, 'http://localhost')
      } catch {
        return sendError(res, 'bad_request', 'malformed URL')
      }
      const hostHeader = req.headers.host
      if (!hostAllowed(hostHeader)) return sendError(res, 'forbidden', `host ${hostHeader} is not this server`)
      const origin = req.headers.origin
      if (origin !== undefined && !originAllowed(origin, hostHeader)) return sendError(res, 'forbidden', `origin ${origin} is not allowed`)
      if (rawPath === '/api/events') {
        if (!authorised(req, url, true)) return sendError(res, 'unauthorized', 'missing or wrong token')
        if (req.method !== 'GET') return sendError(res, 'bad_request', 'use GET for /api/events')
        return handleEvents(req, res)
      }
      if (rawPath.startsWith('/api/')) {
        if (!authorised(req, url, false)) return sendError(res, 'unauthorized', 'missing or wrong token (header x-qc-token)')
        return handleApi(req, res, rawPath.slice('/api/'.length))
      }
      if (rawPath === '/api') return sendError(res, 'not_found', 'no such method')
      if (rawPath.startsWith('/img/')) {
        if (!authorised(req, url, true)) return sendError(res, 'unauthorized', 'missing or wrong token')
        if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 'bad_request', 'use GET for images')
        return handleImage(req, res, url, rawPath.slice('/img/'.length))
      }
      if (rawPath.startsWith('/export/')) {
        if (!authorised(req, url, true)) return sendError(res, 'unauthorized', 'missing or wrong token')
        if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 'bad_request', 'use GET for downloads')
        return handleExportDownload(req, res, rawPath.slice('/export/'.length))
      }
      return handleStatic(req, res, rawPath)
    })().catch((e: unknown) => {
      if (!res.headersSent) sendError(res, 'internal', e instanceof Error ? e.message : String(e))
      else res.destroy()
    })
  })

  await new Promise<void>((ok, fail) => {
    server.once('error', fail)
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', fail)
      ok()
    })
  })
  port = (server.address() as AddressInfo).port
  const urlHost = host.includes(':') ? `[${host}]` : host
  const origin = `http://${urlHost}:${port}`
  if (!isLoopback(host)) {
    warn(
      `WARNING: serving on ${host}:${port}, reachable from other machines. Anyone with the URL (and its token) can read and change your projects. Traffic is not encrypted.`,
    )
  }
  if (!existsSync(join(webRoot, 'index.html'))) {
    if (opts.autoBuild ?? opts.webRoot === undefined) {
      building = true
      void buildWebApp(warn).finally(() => (building = false))
    } else warn(`note: ${webRoot}${sep}index.html not found; build the web app with \`npm run build:web\``)
  }

  return {
    url: `${origin}/?token=${token}`,
    origin,
    port,
    host,
    token,
    service,
    async close() {
      offExports()
      for (const s of streams) s.end()
      streams.clear()
      await new Promise<void>((ok) => {
        server.close(() => ok())
        server.closeAllConnections()
      })
      await service.close()
    },
  }
}
