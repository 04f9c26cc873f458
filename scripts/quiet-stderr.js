// What `npm start` keeps out of the terminal: the few lines third-party native code prints on every start that say
// nothing a user can act on (Dawn, the WebGPU implementation, reporting that no Vulkan driver is there, or that a
// software adapter lowered two limits). The app says what matters itself, once ("Compute: no GPU adapter, ...").
// Everything else passes through untouched, so a real failure (a crash, a stack trace of ours) is never hidden.

/** Dawn's warnings that are known to be harmless here; matched whole, so a new Dawn message still shows. */
export const KNOWN_NOISE = [
  // No Vulkan loader (libvulkan1 missing) or no driver: the webgpu backend then says why in `bnas backends`.
  /^Warning: Couldn't load Vulkan: .*$/,
  /^Warning: vkCreateInstance: Found no drivers!$/,
  /^Warning: vkCreateInstance failed with VK_ERROR_INCOMPATIBLE_DRIVER$/,
  // A software adapter (lavapipe) reports limits Dawn lowers to what it can allocate.
  /^Warning: max\w+ artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/,
  // A Vulkan driver too old for Dawn (Debian 12's own Mesa 22 lavapipe, from mesa-vulkan-drivers) is skipped; the
  // engine's own Mesa 25 lavapipe or a GPU's driver is used instead.
  /^Warning: Vulkan shaderUniform\*ArrayDynamicIndexing required\.$/
]

/**
 * Dawn appends what it was doing and where the message came from: " - While initializing adapter (backend=...)",
 * "    at CheckVkSuccessImpl (/home/runner/.../VulkanError.cpp:106)".
 */
const DAWN_CONTEXT = /^(\s+at \w+ \(.*\.(cpp|h|mm):\d+\)| - While [^\n]*)$/

export function isKnownNoise(line) {
  return KNOWN_NOISE.some((pattern) => pattern.test(line))
}

/**
 * A line filter for a child's stderr: `push` takes chunks as they come (lines may be split across chunks), `end`
 * flushes a last line without a newline. A Dawn context line is dropped only right after a dropped warning, so the
 * stack traces of our own errors are kept. `dropped()` counts what was left out.
 */
export function createNoiseFilter(write) {
  let pending = ''
  let droppingContext = false
  let count = 0
  const take = (line) => {
    // After a dropped warning, Dawn's context lines and the blank line it ends the message with go too.
    if (isKnownNoise(line) || (droppingContext && (DAWN_CONTEXT.test(line) || line.trim() === ''))) {
      droppingContext = true
      count++
      return
    }
    droppingContext = false
    write(line + '\n')
  }
  return {
    push(chunk) {
      pending += chunk.toString()
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) take(line)
    },
    end() {
      if (pending !== '') write(pending)
      pending = ''
    },
    dropped: () => count
  }
}

/** Pipes `child.stderr` through the filter to our stderr; the child must be spawned with stderr 'pipe'. */
export function filterChildStderr(child) {
  const filter = createNoiseFilter((text) => process.stderr.write(text))
  child.stderr.on('data', (chunk) => filter.push(chunk))
  child.stderr.on('end', () => filter.end())
  return filter
}
