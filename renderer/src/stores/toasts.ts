/**
 * Short-lived notices in the corner. Every notice goes by itself (errors after ERROR_MS, the others
 * after INFO_MS), so none covers a table for good; hovering one holds it. A notice pushed with a
 * `key` replaces an earlier one with that key, and `clear(key)` takes it away as soon as its cause
 * has gone (the screen that raised it knows when).
 */
import { defineStore } from 'pinia'
import { ref } from 'vue'

export interface Toast {
  id: number
  kind: 'error' | 'info' | 'ok'
  text: string
  key?: string
}

/** How long a notice stays (ms). */
export const INFO_MS = 4000
export const ERROR_MS = 10000

export const useToastStore = defineStore('toasts', () => {
  const items = ref<Toast[]>([])
  const timers = new Map<number, { handle: ReturnType<typeof setTimeout> | null; ms: number }>()
  let next = 1

  function arm(id: number, ms: number): void {
    const t = timers.get(id)
    if (t?.handle) clearTimeout(t.handle)
    timers.set(id, { handle: ms > 0 ? setTimeout(() => dismiss(id), ms) : null, ms })
  }

  function push(kind: Toast['kind'], text: string, opts: { ms?: number; key?: string } | number = {}): number {
    const o = typeof opts === 'number' ? { ms: opts } : opts
    if (o.key !== undefined) clear(o.key)
    const id = next++
    items.value.push({ id, kind, text, ...(o.key !== undefined ? { key: o.key } : {}) })
    arm(id, o.ms ?? (kind === 'error' ? ERROR_MS : INFO_MS))
    return id
  }
  function dismiss(id: number): void {
    const t = timers.get(id)
    if (t?.handle) clearTimeout(t.handle)
    timers.delete(id)
    items.value = items.value.filter((x) => x.id !== id)
  }
  /** Removes the notices raised with `key` (their cause has gone). */
  function clear(key: string): void {
    for (const t of items.value.filter((x) => x.key === key)) dismiss(t.id)
  }
  /** Holds a notice while the pointer is on it; `false` starts its time again. */
  function hold(id: number, on: boolean): void {
    const t = timers.get(id)
    if (!t) return
    if (on) {
      if (t.handle) clearTimeout(t.handle)
      t.handle = null
    } else arm(id, t.ms)
  }
  /** Reports an error from a failed call; returns nothing so it can end a catch. `context` doubles as its key. */
  function error(e: unknown, context?: string): void {
    const msg = e instanceof Error ? e.message : String(e)
    push('error', context ? `${context}: ${msg}` : msg, context ? { key: context } : {})
  }
  return { items, push, dismiss, clear, hold, error, info: (t: string) => push('info', t), ok: (t: string) => push('ok', t) }
})
