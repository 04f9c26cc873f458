import type { BackendDescription } from './index'

/**
 * What a user can do to get a backend that is not used here, one line each, from the facts `describeBackends`
 * found. Shown by `bnas backends` and the app's Start page. Nothing here is run: these are instructions.
 */
export function adviceFor(backend: Omit<BackendDescription, 'advice'>): string | undefined {
  // A native addon built without oneDNN runs, on its own conv kernels: say what oneDNN would add.
  if (backend.name === 'native' && backend.available && /built without oneDNN/.test(backend.found ?? ''))
    return (
      'for faster convolutions (oneDNN, what PyTorch uses on CPUs): Debian `apt-get install libdnnl-dev`, then ' +
      '`node scripts/build-native.js --force`, then restart the app (see native/README.md, Measured here)'
    )
  if (backend.available && backend.notAuto === undefined) return undefined
  const reason = backend.reason ?? ''
  switch (backend.name) {
    case 'tensorflow-gpu':
      return (
        'Linux with an NVIDIA GPU and CUDA 11.2 + cuDNN 8.1: `npm install @tensorflow/tfjs-node-gpu` ' +
        '(its install downloads libtensorflow, so it needs the network), then restart the app'
      )
    case 'webgpu':
      if (backend.notAuto !== undefined)
        return (
          'a software adapter is a CPU rasteriser, slower than the CPU backends; a hardware GPU with a Vulkan, ' +
          'Metal or Direct3D 12 driver is used by itself'
        )
      if (/cannot load/.test(reason)) return 'reinstall the `webgpu` package: `npm install webgpu`'
      return process.platform === 'linux'
        ? 'install your GPU’s Vulkan driver (Debian: `apt-get install libvulkan1 mesa-vulkan-drivers` for AMD and ' +
            'Intel; NVIDIA’s own driver for NVIDIA), then restart the app'
        : 'update the graphics driver, then restart the app'
    case 'tensorflow':
      return (
        '`npm install @tensorflow/tfjs-node` (its install downloads libtensorflow, so it needs the network), ' +
        'then restart the app'
      )
    case 'native':
      return (
        'Debian: `apt-get install g++ make python3` (a C++ compiler is enough; add `libdnnl-dev` for oneDNN’s ' +
        'faster convs), then `node scripts/build-native.js` (or `npm install` again), then restart the app'
      )
    default:
      return undefined
  }
}
