/**
 * The renderer's single way to the engine: a typed client over the contract, on the transport
 * chosen at startup (Electron IPC when the preload is present, HTTP + SSE otherwise).
 */
import type { AppTransport } from './transport/types.ts'
import { createHttpTransport, takeToken } from './transport/http.ts'
import { createIpcTransport, hasPreload } from './transport/ipc.ts'
import { contract, type MethodName, type InputOf, type OutputOf } from '../../shared/contract.ts'

/** One async function per contract method, typed from the contract itself. */
export type Api = { [K in MethodName]: (input: InputOf<K>) => Promise<OutputOf<K>> }

function makeClient(t: AppTransport): Api {
  const api = {} as Record<string, (input: unknown) => Promise<unknown>>
  for (const name of Object.keys(contract) as MethodName[]) {
    api[name] = async (input: unknown) => {
      const out = await t.invoke(name, input ?? {})
      // Validate at the boundary: a drifted server shows up as a clear error, not a blank screen.
      const parsed = contract[name].output.safeParse(out)
      if (!parsed.success) throw new Error(`${name}: unexpected response (${parsed.error.issues[0]?.message ?? 'invalid'})`)
      return parsed.data
    }
  }
  return api as unknown as Api
}

export const transport: AppTransport = hasPreload() ? createIpcTransport() : createHttpTransport(takeToken())
export const api: Api = makeClient(transport)

/** URL of a sample's image (thumbnail or full size). */
export function imageUrl(sampleId: number, size: 'thumb' | 'full' = 'thumb'): string {
  return transport.imageUrl(sampleId, size)
}
