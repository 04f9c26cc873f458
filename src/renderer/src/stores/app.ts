import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { AppInfo, EngineStatus } from '../../../shared/contract'
import { api, connected } from '../api'

/** What the whole app shows about itself: version, desktop or browser mode, the engine's backend, the connection. */
export const useAppStore = defineStore('app', () => {
  const info = ref<AppInfo | null>(null)
  const engine = ref<EngineStatus>({ state: 'starting' })
  const error = ref<string | null>(null)

  async function load(): Promise<void> {
    const result = await api.call['app.info']({})
    if (result.ok) {
      info.value = result.value
      engine.value = result.value.engine
      error.value = null
    } else {
      error.value = result.error.message
    }
  }

  api.onEvent((event) => {
    if (event.type === 'engine.status') engine.value = event.payload
  })

  const backendLabel = computed(() => {
    const status = engine.value
    if (status.state === 'starting') return 'engine starting…'
    if (status.state === 'failed') return 'engine failed'
    return status.backend
  })

  return { info, engine, error, connected, backendLabel, load }
})
