#!/usr/bin/env python3
"""Reference values for the engine's ops, computed independently with PyTorch (Debian's python3-torch 1.13).

Mirrors the authors' code (gistvision/bnas src/operations.py, src/bin_utils.py, src/model_search.py MixedOp):
BinActive (sign, clipped STE), BinOp (mean-centre over C_in, clamp, sign*alpha, updateBinaryGradWeight with its
n*(1-1/C_in) factor), MaxPool2d / AvgPool2d(count_include_pad=False), dilated and strided convs, BatchNorm2d in training
mode. Every tensor is written in the engine's layout: activations NHWC, conv weights [kh, kw, C_in, C_out].

Each case feeds a fixed random upstream gradient `dy` and records the vector-Jacobian products (the gradient of
sum(y * dy)) with respect to the inputs and weights.

Run from the repository root:  /usr/bin/python3 scripts/reference/make_op_fixtures.py
Writes test/fixtures/reference/*.json (small on purpose: a few hundred KB in all).
"""
import json
import os

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
OUT_DIR = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'reference')
EPS = 1e-5
MOMENTUM = 0.1


# ---------------------------------------------------------------- layout helpers
def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous()


def hwio(w):
    return w.detach().permute(2, 3, 1, 0).contiguous()


def enc(t):
    """{shape, data} with float32 values printed to 9 significant digits (float32 round-trips exactly)."""
    t = t.detach().float().contiguous()
    return {'shape': list(t.shape), 'data': [float('%.9g' % v) for v in t.reshape(-1).tolist()]}


# ---------------------------------------------------------------- the authors' binary pieces
class BinActive(torch.autograd.Function):
    """operations.py BinActive, as a static Function: sign forward, gradient zeroed where x >= 1 or x <= -1."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sign()

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[x.ge(1)] = 0
        grad_input[x.le(-1)] = 0
        return grad_input


def mean_center_clamp(w):
    """BinOp.meancenterConvParams + clampConvParams on a [C_out, C_in, kh, kw] weight."""
    w = w.add(w.mean(1, keepdim=True).mul(-1).expand_as(w))
    return w.clamp(-1.0, 1.0)


def binarize(w):
    """BinOp.binarizeConvParams."""
    n = w[0].nelement()
    m = w.norm(1, 3, keepdim=True).sum(2, keepdim=True).sum(1, keepdim=True).div(n)
    return w.sign().mul(m.expand(w.size()))


def update_binary_grad_weight(weight, grad):
    """BinOp.updateBinaryGradWeight, verbatim apart from taking tensors instead of modules."""
    n = weight[0].nelement()
    s = weight.size()
    m = weight.norm(1, 3, keepdim=True).sum(2, keepdim=True).sum(1, keepdim=True).div(n).expand(s).clone()
    m[weight.lt(-1.0)] = 0
    m[weight.gt(1.0)] = 0
    m = m.mul(grad)
    m_add = weight.sign().mul(grad)
    m_add = m_add.sum(3, keepdim=True).sum(2, keepdim=True).sum(1, keepdim=True).div(n).expand(s)
    m_add = m_add.mul(weight.sign())
    return m.add(m_add).mul(1.0 - 1.0 / s[1]).mul(n)


class BN:
    """nn.BatchNorm2d state driven through F.batch_norm so running stats are observable."""

    def __init__(self, c, affine, gen):
        self.rm = torch.zeros(c)
        self.rv = torch.ones(c)
        self.weight = (1 + 0.2 * torch.randn(c, generator=gen)).requires_grad_() if affine else None
        self.bias = (0.1 * torch.randn(c, generator=gen)).requires_grad_() if affine else None

    def __call__(self, x, training=True):
        return F.batch_norm(x, self.rm, self.rv, self.weight, self.bias, training, MOMENTUM, EPS)


class BinConvBlock:
    """BinReLUConvBN / BinDilConv with BinOp applied around the step: BN -> BinActive -> conv(sign(W)*alpha) -> ReLU."""

    def __init__(self, c_in, c_out, k, stride, padding, dilation, affine, gen):
        self.bn = BN(c_in, affine, gen)
        raw = torch.empty(c_out, c_in, k, k).uniform_(-1.0, 1.0, generator=gen)
        self.latent = mean_center_clamp(raw)
        self.binary = binarize(self.latent).requires_grad_()
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def __call__(self, x):
        a = BinActive.apply(self.bn(x))
        pre = F.conv2d(a, self.binary, None, self.stride, self.padding, self.dilation)
        self.pre = pre.detach()
        return F.relu(pre)

    def latent_grad(self):
        return update_binary_grad_weight(self.latent, self.binary.grad)


# ---------------------------------------------------------------- cases
def gen(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def case_sign():
    g = gen(1)
    x = torch.randn(1, 3, 5, 5, generator=g) * 1.5
    # Exact boundary values: sign(0) = 0 and the STE blocks |x| == 1.
    flat = x.view(-1)
    flat[0], flat[1], flat[2], flat[3], flat[4] = 0.0, 1.0, -1.0, 0.999, -0.999
    x.requires_grad_()
    dy = torch.randn(1, 3, 5, 5, generator=g)
    y = BinActive.apply(x)
    (y * dy).sum().backward()
    return {'x': enc(nhwc(x)), 'dy': enc(nhwc(dy)), 'y': enc(nhwc(y)), 'dx': enc(nhwc(x.grad))}


def case_center_clamp():
    g = gen(2)
    raw = torch.empty(4, 3, 3, 3).uniform_(-1.6, 1.6, generator=g)
    return {'raw': enc(hwio(raw)), 'latent': enc(hwio(mean_center_clamp(raw)))}


def case_binarize(seed, c_out, c_in, k, with_zeros=False, outside=False):
    g = gen(seed)
    latent = mean_center_clamp(torch.empty(c_out, c_in, k, k).uniform_(-1.2, 1.2, generator=g))
    if with_zeros:
        latent.view(-1)[::7] = 0.0
    if outside:
        # Not reachable after clamping, but the transform's indicator 1(|W| <= 1) must still be honoured.
        latent.view(-1)[::5] = 1.5
        latent.view(-1)[1::5] = -1.25
    wb = binarize(latent)
    dy = torch.randn(c_out, c_in, k, k, generator=g)
    return {
        'latent': enc(hwio(latent)),
        'dy': enc(hwio(dy)),
        'binary': enc(hwio(wb)),
        'grad': enc(hwio(update_binary_grad_weight(latent, dy)))
    }


def hw(size):
    """A square size, or (H, W) for the non-square cases that catch height/width mix-ups."""
    return (size, size) if isinstance(size, int) else size


def case_conv(seed, n, c_in, c_out, size, k, stride, padding, dilation, bias):
    g = gen(seed)
    x = torch.randn(n, c_in, *hw(size), generator=g).requires_grad_()
    bound = 1 / (c_in * k * k) ** 0.5
    w = torch.empty(c_out, c_in, k, k).uniform_(-bound, bound, generator=g).requires_grad_()
    b = torch.empty(c_out).uniform_(-bound, bound, generator=g).requires_grad_() if bias else None
    y = F.conv2d(x, w, b, stride, padding, dilation)
    dy = torch.randn(y.shape, generator=g)
    (y * dy).sum().backward()
    out = {
        'params': {'kernel': k, 'stride': stride, 'padding': padding, 'dilation': dilation, 'bias': bias},
        'x': enc(nhwc(x)), 'w': enc(hwio(w)), 'dy': enc(nhwc(dy)),
        'y': enc(nhwc(y)), 'dx': enc(nhwc(x.grad)), 'dw': enc(hwio(w.grad))
    }
    if bias:
        out['b'] = enc(b)
        out['db'] = enc(b.grad)
    return out


def case_pool(seed, kind, n, c, size, stride):
    g = gen(seed)
    x = torch.randn(n, c, *hw(size), generator=g).requires_grad_()
    if kind == 'max':
        y = F.max_pool2d(x, 3, stride, 1)
    else:
        y = F.avg_pool2d(x, 3, stride, 1, count_include_pad=False)
    dy = torch.randn(y.shape, generator=g)
    (y * dy).sum().backward()
    return {'params': {'kind': kind, 'stride': stride},
            'x': enc(nhwc(x)), 'dy': enc(nhwc(dy)), 'y': enc(nhwc(y)), 'dx': enc(nhwc(x.grad))}


def case_batchnorm(seed, n, c, size, affine):
    g = gen(seed)
    x = (torch.randn(n, c, size, size, generator=g) * 2 + 0.5).requires_grad_()
    bn = BN(c, affine, g)
    y = bn(x, training=True)
    dy = torch.randn(y.shape, generator=g)
    (y * dy).sum().backward()
    out = {'params': {'affine': affine},
           'x': enc(nhwc(x)), 'dy': enc(nhwc(dy)), 'y': enc(nhwc(y)), 'dx': enc(nhwc(x.grad)),
           'runningMean': enc(bn.rm), 'runningVar': enc(bn.rv)}
    # Eval mode on a second input, with the running statistics after the one training step above.
    x2 = torch.randn(n, c, size, size, generator=g)
    out['xEval'] = enc(nhwc(x2))
    out['yEval'] = enc(nhwc(bn(x2, training=False)))
    if affine:
        out['gamma'] = enc(bn.weight)
        out['beta'] = enc(bn.bias)
        out['dgamma'] = enc(bn.weight.grad)
        out['dbeta'] = enc(bn.bias.grad)
    return out


BINARY_OPS = {
    'bin_dil_conv_3x3': (3, 2, 2),
    'bin_dil_conv_5x5': (5, 4, 2),
    'bin_conv_3x3': (3, 1, 1),
    'bin_conv_5x5': (5, 2, 1),
}


def relu_tie_free(dy, *pre_activations):
    """Zero the upstream gradient wherever a binary conv's pre-ReLU output is (numerically) 0.

    Binary inputs times sign(W)·alpha make sums of +-alpha that cancel to exactly 0 in exact arithmetic; in float32 the
    result is 0 or a few ulps either side depending on the summation order, so whether ReLU passes the gradient there
    is an accident of the implementation. A zero upstream gradient at those elements makes the expected gradients
    independent of that accident, without changing what is tested anywhere else.
    """
    dy = dy.clone()
    for pre in pre_activations:
        dy[pre.abs() < 1e-4] = 0.0
    return dy


def case_binary_block(seed, op, n, c, size, stride, affine):
    g = gen(seed)
    k, padding, dilation = BINARY_OPS[op]
    block = BinConvBlock(c, c, k, stride, padding, dilation, affine, g)
    x = torch.randn(n, c, size, size, generator=g).requires_grad_()
    y = block(x)
    dy = relu_tie_free(torch.randn(y.shape, generator=g), block.pre)
    (y * dy).sum().backward()
    out = {'params': {'op': op, 'stride': stride, 'affine': affine},
           'x': enc(nhwc(x)), 'latent': enc(hwio(block.latent)), 'dy': enc(nhwc(dy)),
           'y': enc(nhwc(y)), 'dx': enc(nhwc(x.grad)), 'dlatent': enc(hwio(block.latent_grad())),
           'runningMean': enc(block.bn.rm), 'runningVar': enc(block.bn.rv)}
    if affine:
        out['gamma'] = enc(block.bn.weight)
        out['beta'] = enc(block.bn.bias)
        out['dgamma'] = enc(block.bn.weight.grad)
        out['dbeta'] = enc(block.bn.bias.grad)
    return out


def case_float_block(seed, kind, n, c_in, c_out, size, k, stride, padding, affine):
    """kind 'relu_conv_bn': operations.ReLUConvBN (BN -> float conv, no bias -> ReLU), the search preprocess / stem.
    kind 'residual': the reduction cell's preprocess_res, nn.Sequential(BatchNorm2d(affine=True), Conv2d(k=2, s=2))."""
    g = gen(seed)
    bn = BN(c_in, affine, g)
    bound = 1 / (c_in * k * k) ** 0.5
    w = torch.empty(c_out, c_in, k, k).uniform_(-bound, bound, generator=g).requires_grad_()
    b = torch.empty(c_out).uniform_(-bound, bound, generator=g).requires_grad_() if kind == 'residual' else None
    x = torch.randn(n, c_in, size, size, generator=g).requires_grad_()
    y = F.conv2d(bn(x), w, b, stride, padding)
    if kind == 'relu_conv_bn':
        y = F.relu(y)
    dy = torch.randn(y.shape, generator=g)
    (y * dy).sum().backward()
    out = {'params': {'kind': kind, 'kernel': k, 'stride': stride, 'padding': padding, 'affine': affine},
           'x': enc(nhwc(x)), 'w': enc(hwio(w)), 'dy': enc(nhwc(dy)),
           'y': enc(nhwc(y)), 'dx': enc(nhwc(x.grad)), 'dw': enc(hwio(w.grad)),
           'runningMean': enc(bn.rm), 'runningVar': enc(bn.rv)}
    if b is not None:
        out['b'] = enc(b)
        out['db'] = enc(b.grad)
    if affine:
        out['gamma'] = enc(bn.weight)
        out['beta'] = enc(bn.bias)
        out['dgamma'] = enc(bn.weight.grad)
        out['dbeta'] = enc(bn.bias.grad)
    return out


PRIMITIVES = ['none', 'max_pool_3x3', 'avg_pool_3x3', 'bin_dil_conv_3x3', 'bin_dil_conv_5x5', 'bin_conv_3x3',
              'bin_conv_5x5']


def case_mixed_edge(seed, n, c, size, stride):
    """model_search.MixedOp in the supernet: sum_o softmax(alpha)_o * op_o(x); search-phase BN (affine=False)."""
    g = gen(seed)
    alpha = (torch.randn(len(PRIMITIVES), generator=g) * 0.5).requires_grad_()
    x = torch.randn(n, c, size, size, generator=g).requires_grad_()
    blocks = {}
    pool_bns = {}
    outputs = []
    for name in PRIMITIVES:
        if name == 'none':
            outputs.append((x[:, :, ::stride, ::stride] if stride == 2 else x).mul(0.))
        elif name in ('max_pool_3x3', 'avg_pool_3x3'):
            bn = BN(c, False, g)
            pool_bns[name] = bn
            p = F.max_pool2d(x, 3, stride, 1) if name == 'max_pool_3x3' else \
                F.avg_pool2d(x, 3, stride, 1, count_include_pad=False)
            outputs.append(bn(p))
        else:
            k, padding, dilation = BINARY_OPS[name]
            block = BinConvBlock(c, c, k, stride, padding, dilation, False, g)
            blocks[name] = block
            outputs.append(block(x))
    weights = F.softmax(alpha, dim=-1)
    y = sum(w * o for w, o in zip(weights, outputs))
    dy = relu_tie_free(torch.randn(y.shape, generator=g), *(b.pre for b in blocks.values()))
    (y * dy).sum().backward()
    return {
        'params': {'stride': stride, 'ops': PRIMITIVES},
        'alpha': enc(alpha), 'x': enc(nhwc(x)), 'dy': enc(nhwc(dy)),
        'latents': {name: enc(hwio(b.latent)) for name, b in blocks.items()},
        'y': enc(nhwc(y)), 'dalpha': enc(alpha.grad), 'dx': enc(nhwc(x.grad)),
        'dlatents': {name: enc(hwio(b.latent_grad())) for name, b in blocks.items()}
    }


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    header = {'generator': 'scripts/reference/make_op_fixtures.py', 'torch': torch.__version__,
              'layout': 'activations NHWC, conv weights [kh, kw, C_in, C_out]'}
    files = {
        'sign-ste.json': {'sign': case_sign()},
        'binarize.json': {
            'centerClamp': case_center_clamp(),
            'cases': [case_binarize(3, 4, 3, 3), case_binarize(4, 2, 5, 5, with_zeros=True),
                      case_binarize(5, 3, 4, 1), case_binarize(6, 3, 2, 3, outside=True)]
        },
        'conv.json': {'cases': [
            case_conv(10, 2, 3, 4, 7, 1, 1, 0, 1, False),
            case_conv(11, 1, 3, 4, 7, 3, 1, 1, 1, False),
            case_conv(12, 2, 3, 2, 9, 3, 2, 1, 1, False),
            case_conv(13, 1, 2, 3, 8, 3, 2, 1, 1, False),
            case_conv(14, 1, 3, 2, 9, 5, 1, 2, 1, False),
            case_conv(15, 2, 2, 3, 7, 5, 2, 2, 1, False),
            case_conv(16, 1, 3, 3, 9, 3, 1, 2, 2, False),
            case_conv(17, 2, 3, 2, 7, 3, 2, 2, 2, False),
            case_conv(18, 1, 2, 3, 8, 3, 2, 2, 2, False),
            case_conv(19, 1, 2, 2, 9, 5, 1, 4, 2, False),
            case_conv(20, 1, 3, 2, 9, 5, 2, 4, 2, False),
            case_conv(21, 2, 3, 5, 8, 2, 2, 0, 1, True),
            case_conv(22, 1, 3, 4, 7, 2, 2, 0, 1, True),
            case_conv(23, 2, 3, 6, 7, 3, 2, 1, 1, False),
            case_conv(24, 1, 2, 3, (7, 10), 3, 2, 1, 1, False),
            case_conv(25, 1, 2, 3, (8, 7), 3, 1, 2, 2, False),
            case_conv(26, 1, 2, 2, (9, 6), 5, 2, 4, 2, False),
            case_conv(27, 1, 3, 2, (6, 9), 2, 2, 0, 1, True),
        ]},
        'pool.json': {'cases': [
            case_pool(30, 'max', 2, 3, 7, 1), case_pool(31, 'max', 1, 3, 7, 2), case_pool(32, 'max', 1, 2, 8, 2),
            case_pool(33, 'avg', 2, 3, 7, 1), case_pool(34, 'avg', 1, 3, 7, 2), case_pool(35, 'avg', 1, 2, 8, 2),
            case_pool(36, 'avg', 1, 2, 9, 2),
            case_pool(37, 'max', 1, 2, (7, 8), 2), case_pool(38, 'avg', 1, 2, (8, 5), 2),
        ]},
        'batchnorm.json': {'cases': [case_batchnorm(40, 2, 3, 5, True), case_batchnorm(41, 1, 4, 7, False)]},
        'binary-ops.json': {'cases': [
            case_binary_block(50, 'bin_conv_3x3', 2, 3, 7, 1, True),
            case_binary_block(51, 'bin_conv_3x3', 1, 3, 8, 2, False),
            case_binary_block(52, 'bin_conv_5x5', 1, 3, 7, 1, False),
            case_binary_block(53, 'bin_conv_5x5', 2, 2, 9, 2, True),
            case_binary_block(54, 'bin_dil_conv_3x3', 1, 3, 9, 1, False),
            case_binary_block(55, 'bin_dil_conv_3x3', 2, 3, 7, 2, True),
            case_binary_block(56, 'bin_dil_conv_5x5', 1, 2, 9, 1, True),
            case_binary_block(57, 'bin_dil_conv_5x5', 1, 3, 8, 2, False),
        ]},
        'float-blocks.json': {'cases': [
            case_float_block(70, 'relu_conv_bn', 2, 3, 6, 7, 3, 1, 1, True),
            case_float_block(71, 'relu_conv_bn', 1, 4, 3, 9, 3, 2, 1, False),
            case_float_block(72, 'relu_conv_bn', 2, 5, 3, 8, 1, 1, 0, False),
            case_float_block(73, 'residual', 2, 4, 6, 8, 2, 2, 0, True),
            case_float_block(74, 'residual', 1, 3, 4, 7, 2, 2, 0, True),
        ]},
        'mixed-edge.json': {'cases': [case_mixed_edge(60, 2, 3, 7, 1), case_mixed_edge(61, 1, 3, 9, 2)]},
    }
    total = 0
    for name, body in files.items():
        path = os.path.join(OUT_DIR, name)
        with open(path, 'w') as f:
            json.dump({**header, **body}, f, separators=(',', ':'))
            f.write('\n')
        total += os.path.getsize(path)
        print('%-20s %7d bytes' % (name, os.path.getsize(path)))
    print('total %d bytes' % total)


if __name__ == '__main__':
    main()
