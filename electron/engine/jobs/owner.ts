/**
 * Which process owns a refinement run or validation sweep stored as 'running', and whether that
 * process is still alive. Every connection this app opens records its process id and host name on
 * the rows it starts (store/db.ts, temporary triggers), so a row left 'running' by a process that
 * died (kill -9, a crash, a power cut) can be told apart from one still at work and is reported as
 * 'interrupted'.
 *
 * - Owner on this host: alive when `process.kill(pid, 0)` succeeds (or fails with EPERM: the
 *   process exists under another user), dead when it fails with ESRCH.
 * - Owner on another host (a project file on a shared drive): cannot be checked; taken as alive.
 * - No owner recorded: the row was started by an app version that did not record one (a file
 *   from before schema v2). This process records an owner on every row it starts, so such a row
 *   is not running here; it is taken as interrupted.
 *
 * A process id reused by an unrelated process after the owner died makes a dead run look alive
 * until that process ends; it is then shown as running, never the other way round.
 */
import { hostname } from 'node:os'

/** The process recorded on a row, as stored (null when none was recorded). */
export interface Owner {
  pid: number | null
  host: string | null
}

/** The owner recorded for rows this process starts. */
export function thisProcess(): { pid: number; host: string } {
  return { pid: process.pid, host: hostname() }
}

/** Whether the owner of a 'running' row may still be at work. */
export function ownerAlive(owner: Owner): boolean {
  if (owner.pid === null || owner.pid === undefined) return false
  const me = thisProcess()
  if ((owner.host ?? '') !== me.host) return true
  if (owner.pid === me.pid) return true
  if (!Number.isSafeInteger(owner.pid) || owner.pid <= 0) return false
  try {
    process.kill(owner.pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}

/** The status to show for a stored row: 'running' whose owner is gone becomes 'interrupted'. */
export function effectiveStatus<S extends string>(status: S, owner: Owner): S | 'interrupted' {
  return status === 'running' && !ownerAlive(owner) ? 'interrupted' : status
}
