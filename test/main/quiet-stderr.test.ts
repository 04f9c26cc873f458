import { describe, expect, it } from 'vitest'
// @ts-expect-error: a plain ES module of scripts/, without type declarations
import { createNoiseFilter, isKnownNoise } from '../../scripts/quiet-stderr.js'

/** Lines as Dawn (npm `webgpu` 0.6) printed them on this machine: no Vulkan driver, then lavapipe. */
const NO_DRIVER = [
  'Warning: vkCreateInstance: Found no drivers!',
  'Warning: vkCreateInstance failed with VK_ERROR_INCOMPATIBLE_DRIVER',
  '    at CheckVkSuccessImpl (/home/runner/work/node-webgpu/node-webgpu/third_party/dawn/src/dawn/native/vulkan/VulkanError.cpp:106)'
]
/** Debian 12's own lavapipe (Mesa 22, from mesa-vulkan-drivers), which Dawn skips, as seen on a CI machine. */
const OLD_DRIVER = [
  'Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.',
  ' - While initializing adapter (backend=BackendType::Vulkan)',
  '    at InitializeImpl (/home/runner/work/node-webgpu/node-webgpu/third_party/dawn/src/dawn/native/vulkan/PhysicalDeviceVk.cpp:257)'
]
const LAVAPIPE = [
  'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.',
  'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.'
]

function run(chunks: string[]): { out: string; dropped: number } {
  let out = ''
  const filter = createNoiseFilter((text: string) => (out += text))
  for (const chunk of chunks) filter.push(Buffer.from(chunk))
  filter.end()
  return { out, dropped: filter.dropped() }
}

describe('the start-up stderr filter', () => {
  it("drops Dawn's known warnings and their source-location lines", () => {
    const { out, dropped } = run([
      [
        ...NO_DRIVER,
        '',
        ...OLD_DRIVER,
        '',
        ...LAVAPIPE,
        "Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open"
      ].join('\n') + '\n',
      'kept\n\nblank line above kept\n'
    ])
    expect(out).toBe('kept\n\nblank line above kept\n')
    expect(dropped).toBe(11)
  })

  it('keeps everything else: our errors with their stack, unknown Dawn warnings, a last line without newline', () => {
    const ours = [
      'bnas: cannot read /data/x',
      ' - While reading the dataset',
      'Error: boom',
      '    at serve (/app/out/main/cli.js:10:5)'
    ]
    const { out } = run([
      NO_DRIVER[0] + '\n' + ours[0] + '\n' + ours[1] + '\n',
      ours[2] + '\n' + ours[3] + '\nWarning: Dawn says something new\n',
      NO_DRIVER[1] + '\n' + NO_DRIVER[2] + '\n' + '    at main (/app/x.cpp:1)\n', // a context line only after noise
      'no newline at the end'
    ])
    expect(out).toBe([...ours, 'Warning: Dawn says something new'].join('\n') + '\n' + 'no newline at the end')
  })

  it('joins lines split across chunks before deciding', () => {
    const line = LAVAPIPE[0]
    const { out, dropped } = run([line.slice(0, 20), line.slice(20) + '\nkept\n'])
    expect(out).toBe('kept\n')
    expect(dropped).toBe(1)
  })

  it('matches whole lines only', () => {
    expect(isKnownNoise('Warning: vkCreateInstance: Found no drivers! (and more)')).toBe(false)
    expect(isKnownNoise('prefix Warning: vkCreateInstance: Found no drivers!')).toBe(false)
  })
})
