/**
 * `qc serve [--port N] [--host H] [--allow-remote] [--data-dir DIR] [--no-build]`: web mode from
 * the command line. Prints the URL with its token and runs until interrupted; on a fresh clone the
 * server builds the renderer in the background (startServer's autoBuild) unless --no-build.
 */
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { isLoopback, startServer } from './server.ts'

/** Default port of `qc serve`; when taken (and no --port was given) a free one is used. */
export const DEFAULT_PORT = 4317

/** The app's data folder: $QC_DATA_DIR, else ~/.seed-qc. */
export function defaultDataDir(): string {
  return resolve(process.env.QC_DATA_DIR ?? join(homedir(), '.seed-qc'))
}

interface ServeArgs {
  port?: number
  host: string
  allowRemote: boolean
  dataDir: string
  build: boolean
}

/** Parses serve's arguments; throws with a one-line reason on bad input. */
export function parseServeArgs(args: string[]): ServeArgs {
  const out: ServeArgs = { host: '127.0.0.1', allowRemote: false, dataDir: defaultDataDir(), build: true }
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    const value = (): string => {
      const v = args[++i]
      if (v === undefined || v.startsWith('--')) throw new Error(`${a} needs a value`)
      return v
    }
    if (a === '--port') {
      const p = Number(value())
      if (!Number.isInteger(p) || p < 0 || p > 65535) throw new Error(`--port must be an integer 0..65535`)
      out.port = p
    } else if (a === '--host') out.host = value()
    else if (a === '--allow-remote') out.allowRemote = true
    else if (a === '--data-dir') out.dataDir = resolve(value())
    else if (a === '--no-build') out.build = false
    else throw new Error(`unknown option ${a} (serve takes --port, --host, --allow-remote, --data-dir, --no-build)`)
  }
  if (!isLoopback(out.host) && !out.allowRemote) throw new Error(`--host ${out.host} is reachable from other machines: add --allow-remote to confirm`)
  return out
}

/** Runs `qc serve`; resolves with the exit code once the server has stopped (SIGINT/SIGTERM). */
export async function serveCommand(args: string[]): Promise<number> {
  let a: ServeArgs
  try {
    a = parseServeArgs(args)
  } catch (e) {
    console.error(`qc serve: ${(e as Error).message}`)
    return 2
  }
  let server
  try {
    server = await startServer({ port: a.port ?? DEFAULT_PORT, host: a.host, allowRemote: a.allowRemote, dataDir: a.dataDir, autoBuild: a.build })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE' && a.port === undefined) {
      server = await startServer({ port: 0, host: a.host, allowRemote: a.allowRemote, dataDir: a.dataDir, autoBuild: a.build })
    } else {
      console.error(`qc serve: ${(e as Error).message}`)
      return 1
    }
  }
  console.log(
    `Seed QC is running. Open this URL in your browser (it carries the access token):\n\n  ${server.url}\n\nData folder: ${a.dataDir}\nPress Ctrl+C to stop.`,
  )
  await new Promise<void>((ok) => {
    const stop = (): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      ok()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  await server.close()
  return 0
}
