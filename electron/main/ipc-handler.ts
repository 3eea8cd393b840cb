/**
 * The IPC handler of one contract method, without Electron: checks that the message comes from
 * the app's own frame, validates the payload with the contract schema, forwards it to the engine
 * and wraps the answer as an IpcReply (IPC rejections would lose the error code). Unit-tested in
 * plain Node.
 */
import { contract, ErrorCode, isMethodName } from '../../shared/contract.ts'
import type { IpcReply } from '../../shared/ipc.ts'
import { isTrustedSender, type AppLocation, type SenderInfo } from './security.ts'

export interface IpcHandlerDeps {
  app: AppLocation
  /** Forwards a validated call to the engine (or handles it in main). */
  call(method: string, input: unknown): Promise<unknown>
  /** Told about refused messages (logged by main). */
  onRefused?(method: string, why: string): void
}

function issues(e: { issues: { path: PropertyKey[]; message: string }[] }): string {
  return e.issues.map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`).join('; ')
}

/** Builds the `ipcMain.handle` listener of `method`. */
export function makeIpcHandler(method: string, deps: IpcHandlerDeps): (event: SenderInfo, input: unknown) => Promise<IpcReply> {
  return async (event, input) => {
    if (!isTrustedSender(event, deps.app)) {
      deps.onRefused?.(method, `sender ${event.senderFrame?.url ?? '(no frame)'} is not the app`)
      return { ok: false, error: { code: 'forbidden', message: 'this window may not call the engine' } }
    }
    if (!isMethodName(method)) return { ok: false, error: { code: 'not_found', message: `unknown method '${method}'` } }
    const parsed = contract[method].input.safeParse(input ?? {})
    if (!parsed.success) {
      deps.onRefused?.(method, 'invalid payload')
      return { ok: false, error: { code: 'bad_request', message: `${method}: ${issues(parsed.error)}` } }
    }
    try {
      return { ok: true, value: await deps.call(method, parsed.data) }
    } catch (e) {
      const raw = e && typeof e === 'object' && 'code' in e ? (e as { code: unknown }).code : undefined
      const code = ErrorCode.safeParse(raw).success ? (raw as string) : 'internal'
      return { ok: false, error: { code, message: e instanceof Error ? e.message : String(e) } }
    }
  }
}
