import * as tf from '@tensorflow/tfjs-core'

/** What a forward pass needs to know besides its input. Networks may pass a richer object (e.g. drop-path state). */
export interface ForwardContext {
  training: boolean
  /**
   * The gradients this pass will be differentiated for, when a search step knows it: 'weights' (the w step: α is a
   * constant), 'arch' (the α step: no weight gets a gradient). Ops then keep less for the backward pass; the values
   * and the gradients asked for are the same. Absent: any gradient may be asked for.
   */
  differentiate?: 'weights' | 'arch'
}

/**
 * A PyTorch-like module: parameters, buffers and children are registered by name, and every listing walks them in
 * registration order (own entries first, then children, depth first), like torch's named_parameters(). That order is
 * what checkpoints, optimizers and parameter counts rely on, so it is deterministic by construction.
 */
export abstract class Module {
  private readonly ownParameters: Array<[string, tf.Variable]> = []
  private readonly ownBuffers: Array<[string, tf.Variable]> = []
  private readonly ownBinaryWeights: tf.Variable[] = []
  private readonly children: Array<[string, Module]> = []

  abstract forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D

  /** Trainable variables with dotted names ('cells.3.ops.2.conv.weight'), in registration order. */
  namedParameters(prefix = ''): Array<[string, tf.Variable]> {
    const out: Array<[string, tf.Variable]> = this.ownParameters.map(([name, v]) => [join(prefix, name), v])
    for (const [name, child] of this.children) out.push(...child.namedParameters(join(prefix, name)))
    return out
  }

  parameters(): tf.Variable[] {
    return this.namedParameters().map(([, v]) => v)
  }

  /** Non-trainable state (BN running mean/var), same naming and order rules as parameters. */
  namedBuffers(prefix = ''): Array<[string, tf.Variable]> {
    const out: Array<[string, tf.Variable]> = this.ownBuffers.map(([name, v]) => [join(prefix, name), v])
    for (const [name, child] of this.children) out.push(...child.namedBuffers(join(prefix, name)))
    return out
  }

  /** Latent weights of binarized convs: run centerAndClampLatent on each before every training forward pass. */
  binaryWeights(): tf.Variable[] {
    const out = [...this.ownBinaryWeights]
    for (const [, child] of this.children) out.push(...child.binaryWeights())
    return out
  }

  /** Direct children in registration order. */
  namedChildren(): Array<[string, Module]> {
    return [...this.children]
  }

  /** Number of trainable scalars. */
  parameterCount(): number {
    return this.parameters().reduce((sum, v) => sum + v.size, 0)
  }

  /** Frees every variable of this module and its children. The module is unusable afterwards. */
  dispose(): void {
    for (const [, v] of this.ownParameters) v.dispose()
    for (const [, v] of this.ownBuffers) v.dispose()
    for (const [, child] of this.children) child.dispose()
  }

  protected registerParameter(name: string, initial: tf.Tensor, options: { binary?: boolean } = {}): tf.Variable {
    // Variable names must be unique engine-wide, so tf gets an anonymous one; our names live in the module tree.
    const v = tf.variable(initial, true)
    initial.dispose()
    this.ownParameters.push([name, v])
    if (options.binary) this.ownBinaryWeights.push(v)
    return v
  }

  protected registerBuffer(name: string, initial: tf.Tensor): tf.Variable {
    const v = tf.variable(initial, false)
    initial.dispose()
    this.ownBuffers.push([name, v])
    return v
  }

  protected registerModule<M extends Module>(name: string, module: M): M {
    if (this.children.some(([existing]) => existing === name)) throw new Error(`duplicate child module '${name}'`)
    this.children.push([name, module])
    return module
  }
}

function join(prefix: string, name: string): string {
  return prefix ? `${prefix}.${name}` : name
}

/** Children applied in order, like nn.Sequential; children are named '0', '1', ... */
export class Sequential extends Module {
  private readonly layers: Module[]

  constructor(...layers: Module[]) {
    super()
    this.layers = layers.map((layer, i) => this.registerModule(String(i), layer))
  }

  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    return tf.tidy(() => this.layers.reduce((y, layer) => layer.forward(y, ctx), x))
  }
}
