#!/usr/bin/env node
// The `qc` command. Runs the TypeScript engine directly through tsx's loader, so that the CLI,
// the web server and the tests execute exactly the same source with no build step.
import { register } from 'tsx/esm/api'

register()
// `qc ... | head`: a reader that stops early closes the pipe; stop quietly, as other Unix tools do.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  throw e
})
const { main } = await import('../electron/cli/qc.ts')
const code = await main(process.argv.slice(2))
process.exitCode = code
