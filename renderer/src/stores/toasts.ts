/** Short-lived notices (errors above all) shown in the corner; errors stay until dismissed. */
import { defineStore } from 'pinia'
import { ref } from 'vue'

export interface Toast {
  id: number
  kind: 'error' | 'info' | 'ok'
  text: string
}

export const useToastStore = defineStore('toasts', () => {
  const items = ref<Toast[]>([])
  let next = 1

  function push(kind: Toast['kind'], text: string, ms = kind === 'error' ? 0 : 4000): number {
    const id = next++
    items.value.push({ id, kind, text })
    if (ms > 0) setTimeout(() => dismiss(id), ms)
    return id
  }
  function dismiss(id: number): void {
    items.value = items.value.filter((t) => t.id !== id)
  }
  /** Reports an error from a failed call; returns nothing so it can end a catch. */
  function error(e: unknown, context?: string): void {
    const msg = e instanceof Error ? e.message : String(e)
    push('error', context ? `${context}: ${msg}` : msg)
  }
  return { items, push, dismiss, error, info: (t: string) => push('info', t), ok: (t: string) => push('ok', t) }
})
