#!/usr/bin/env node
// The `qc` command. Runs the TypeScript engine directly through tsx's loader, so that the CLI,
// the web server and the tests execute exactly the same source with no build step.
import { register } from 'tsx/esm/api'

register()
// `qc ... | head`: a reader that stops early closes the pipe. Stop quietly, as other Unix tools do
// (status 141, as a process killed by SIGPIPE, so a cut-short run does not look finished; 0 when
// qc had already finished, e.g. a help text longer than what head read).
let finished = false
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(finished ? (process.exitCode ?? 0) : 141)
    throw e
  })
}
const { main } = await import('../electron/cli/qc.ts')
const code = await main(process.argv.slice(2))
finished = true
process.exitCode = code
