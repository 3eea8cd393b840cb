/** What the renderer needs from a transport: the contract's two calls plus image URLs. */
export type EventListener = (event: unknown) => void

export interface AppTransport {
  kind: 'web' | 'electron'
  invoke(method: string, input: unknown): Promise<unknown>
  subscribe(listener: EventListener): () => void
  /** URL for a sample's image; the transport knows how images are served (HTTP or qc-img://). */
  imageUrl(sampleId: number, size: 'thumb' | 'full'): string
}
