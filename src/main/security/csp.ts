/**
 * The Content-Security-Policy of the renderer, in Electron and in browser mode alike: scripts only from
 * the app itself, no eval, no plugins, no framing; connections only back to the app (the browser-mode
 * WebSocket is added by the server, which knows its port). Inline styles stay allowed because Vue's style
 * bindings and ECharts set element styles.
 */
export function contentSecurityPolicy(extraConnect: string[] = []): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    `connect-src ${["'self'", ...extraConnect].join(' ')}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'"
  ].join('; ')
}
