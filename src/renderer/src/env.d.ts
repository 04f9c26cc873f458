/// <reference types="vite/client" />
import type { BnasApi } from '../../shared/contract'

declare module '*.vue' {
  import type { DefineComponent } from 'vue'
  const component: DefineComponent<object, object, unknown>
  export default component
}

declare global {
  interface Window {
    /** Present in the Electron window only, exposed by the preload. */
    bnas?: BnasApi
  }
}
