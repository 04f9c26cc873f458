import type { FieldGroup } from './config-form'

/** Every setting of a final training (BNAS-SPEC 5.2 CIFAR, 5.3 ImageNet). */
export const TRAIN_FIELDS: FieldGroup[] = [
  {
    title: 'Data',
    fields: [
      {
        key: 'dataset',
        label: 'Dataset',
        type: 'text',
        help: 'Trained on the whole train split, scored on the test split every epoch.'
      },
      {
        key: 'subset',
        label: 'Train images used',
        type: 'int',
        optional: true,
        help: 'A seeded subset for a quick run; empty = all.'
      },
      {
        key: 'testSubset',
        label: 'Test images scored',
        type: 'int',
        optional: true,
        help: 'Empty = the whole test split.'
      },
      {
        key: 'augment',
        label: 'Augment (crop + flip)',
        type: 'bool',
        help: 'Random crop with padding and horizontal flip.'
      },
      {
        key: 'cutout',
        label: 'Cutout',
        type: 'int',
        help: 'Side of the cut-out square in pixels; 0 = off (the authors used none).'
      }
    ]
  },
  {
    title: 'Network',
    fields: [
      {
        key: 'macro',
        label: 'Macro',
        type: 'enum',
        options: ['cifar', 'imagenet'],
        help: 'cifar: 3×3 stem (BNAS-A); imagenet: the DARTS ImageNet stems.'
      },
      { key: 'cells', label: 'Cells L', type: 'int', help: 'BNAS-A: 20 cells.' },
      { key: 'channels', label: 'Initial channels C', type: 'int', help: 'BNAS-A: 36.' }
    ]
  },
  {
    title: 'Optimisation',
    fields: [
      { key: 'epochs', label: 'Epochs', type: 'int', help: 'BNAS-A: 600.' },
      { key: 'batchSize', label: 'Batch size', type: 'int', help: 'BNAS-A: 256.' },
      {
        key: 'schedule',
        label: 'LR schedule',
        type: 'enum',
        options: ['one-cycle', 'cosine-restarts', 'cosine'],
        help: 'one-cycle: CIFAR (5.2); cosine-restarts: ImageNet, period 50 epochs (5.3).'
      },
      { key: 'lr', label: 'Learning rate', type: 'number', step: 0.005, help: 'Peak learning rate (BNAS-A: 0.05).' },
      { key: 'momentum', label: 'Momentum', type: 'number', step: 0.05, help: 'SGD momentum.' },
      { key: 'weightDecay', label: 'Weight decay', type: 'number', step: 0.000001, help: 'BNAS-A: 3e-6.' },
      {
        key: 'dropPath',
        label: 'Drop-path',
        type: 'number',
        step: 0.05,
        help: 'Final probability, growing linearly from 0 (BNAS-A: 0.2).'
      },
      { key: 'labelSmoothing', label: 'Label smoothing', type: 'number', step: 0.05, help: 'ImageNet: 0.1.' },
      {
        key: 'gradClip',
        label: 'Gradient clip',
        type: 'number',
        step: 0.5,
        help: 'Global norm before the XNOR transform; 0 = off (ImageNet: 5).'
      },
      {
        key: 'weightGradient',
        label: 'Binary weight gradient',
        type: 'enum',
        options: ['xnor', 'ste'],
        help: 'xnor: the authors’ transform; ste: straight-through.'
      }
    ]
  },
  {
    title: 'Run',
    fields: [
      { key: 'seed', label: 'Seed', type: 'int', help: 'Seeds weights, batches and drop-path.' },
      { key: 'checkpointEvery', label: 'Checkpoint every', type: 'int', help: 'Steps between checkpoints.' },
      { key: 'progressEvery', label: 'Progress every', type: 'int', help: 'Steps between progress records.' }
    ]
  }
]
