/**
 * What every kernel of the packed runtime's WebGPU path shares: one thread per output value, 64 threads a workgroup,
 * and a 2-D grid of workgroups, since one dimension holds at most 65,535 of them (4.2 M threads: less than a batch of
 * 32 images' activations in a 20-cell network).
 */
export const WORKGROUP_SIZE = 64
const MAX_GROUPS_PER_DIMENSION = 65535

/** WGSL every kernel starts with: the flat thread index over the 2-D grid. */
export const PRELUDE = /* wgsl */ `
const WG: u32 = ${WORKGROUP_SIZE}u;
fn flatIndex(wid: vec3<u32>, lid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return (wid.y * groups.x + wid.x) * WG + lid.x;
}
`

/** The entry point's signature (every kernel's is the same). */
export const ENTRY = /* wgsl */ `@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>)`

/** Workgroups (x, y) for `threads` threads; the kernels return early past their total. */
export function workgroups(threads: number): [number, number] {
  const groups = Math.max(1, Math.ceil(threads / WORKGROUP_SIZE))
  const x = Math.min(groups, MAX_GROUPS_PER_DIMENSION)
  const y = Math.ceil(groups / x)
  if (y > MAX_GROUPS_PER_DIMENSION)
    throw new Error(`packed runtime (webgpu): ${threads} threads are too many for one dispatch`)
  return [x, y]
}

/** Every kernel's parameters: up to 16 u32 in one uniform buffer (WGSL reads the fields it declares). */
export const PARAM_WORDS = 16
