#!/usr/bin/env python3
"""The BNAS search step in PyTorch, as the authors' code runs it, for comparison with `bnas bench search-step`.

Run: /usr/bin/python3 scripts/bench/search_step_torch.py --cells 5 --channels 8 --batch 32 --input 32x32x3 --classes 10
Prints one JSON line: msPerStep (median after warm-up), cpuMsPerStep, stepPeakRssBytes (resident peak while stepping: VmHWM reset
after the model is built, as `bnas bench search-step` measures it), stepAddedBytes, peakRssBytes (lifetime),
parameters, threads.

It mirrors gistvision/bnas src/model_search.py, operations.py and bin_utils_search.py (BinOp), first order,
with the decisions of BNAS-SPEC section 0 (every cell-op conv binarized; preprocess and residual convs float).
"""
import argparse
import gc
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRIMITIVES = ['none', 'max_pool_3x3', 'avg_pool_3x3', 'bin_dil_conv_3x3', 'bin_dil_conv_5x5', 'bin_conv_3x3', 'bin_conv_5x5']


class BinActive(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sign()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        grad = grad.clone()
        grad[x.ge(1)] = 0
        grad[x.le(-1)] = 0
        return grad


class BinConvBlock(nn.Module):
    """BN(affine=False) -> sign -> binarized conv -> ReLU (operations.py BinReLUConvBN / BinDilConv, search)."""

    def __init__(self, c_in, c_out, k, stride, padding, dilation=1):
        super().__init__()
        self.bn = nn.BatchNorm2d(c_in, affine=False)
        self.conv = nn.Conv2d(c_in, c_out, k, stride, padding, dilation=dilation, bias=False)

    def forward(self, x):
        return F.relu(self.conv(BinActive.apply(self.bn(x))))


class Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x.mul(0.0) if self.stride == 1 else x[:, :, :: self.stride, :: self.stride].mul(0.0)


def make_op(name, c, stride):
    if name == 'none':
        return Zero(stride)
    if name == 'max_pool_3x3':
        return nn.Sequential(nn.MaxPool2d(3, stride, 1), nn.BatchNorm2d(c, affine=False))
    if name == 'avg_pool_3x3':
        return nn.Sequential(nn.AvgPool2d(3, stride, 1, count_include_pad=False), nn.BatchNorm2d(c, affine=False))
    k = 3 if name.endswith('3x3') else 5
    if 'dil' in name:
        return BinConvBlock(c, c, k, stride, 2 * (k - 1) // 2, dilation=2)
    return BinConvBlock(c, c, k, stride, (k - 1) // 2)


class FloatBlock(nn.Sequential):
    """Search preprocess: BN(affine=False) -> float conv -> ReLU (the code's ReLUConvBN)."""

    def __init__(self, c_in, c_out, k, stride, padding):
        super().__init__(nn.BatchNorm2d(c_in, affine=False), nn.Conv2d(c_in, c_out, k, stride, padding, bias=False), nn.ReLU())


class MixedOp(nn.Module):
    def __init__(self, c, stride):
        super().__init__()
        self._ops = nn.ModuleList(make_op(p, c, stride) for p in PRIMITIVES)

    def forward(self, x, weights):
        return sum(w * op(x) for w, op in zip(weights, self._ops))


class Cell(nn.Module):
    def __init__(self, steps, c_pp, c_p, c, reduction, reduction_prev, layer_no):
        super().__init__()
        self.reduction = reduction
        self.layer_no = layer_no
        self.preprocess0 = FloatBlock(c_pp, c, 3, 2, 1) if reduction_prev else FloatBlock(c_pp, c, 1, 1, 0)
        self.preprocess1 = FloatBlock(c_p, c, 1, 1, 0)
        if reduction:
            self.preprocess_res = nn.Sequential(nn.BatchNorm2d(c_p), nn.Conv2d(c_p, 4 * c, 2, 2, 0, bias=True))
        self.steps = steps
        self._ops = nn.ModuleList()
        for i in range(steps):
            for j in range(2 + i):
                self._ops.append(MixedOp(c, 2 if reduction and j < 2 else 1))

    def forward(self, s0, s1, weights):
        res = s1
        s0 = self.preprocess0(s0)
        s1 = self.preprocess1(s1)
        states = [s0, s1]
        offset = 0
        for _ in range(self.steps):
            s = sum(self._ops[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        out = torch.cat(states[-4:], dim=1)
        if self.layer_no == 0:
            return out
        return out + (self.preprocess_res(res) if self.reduction else res)


class Network(nn.Module):
    def __init__(self, c, classes, layers, in_channels):
        super().__init__()
        c_curr = 3 * c
        self.stem = nn.Sequential(nn.BatchNorm2d(in_channels), nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False), nn.ReLU())
        c_pp, c_p, c_curr = c_curr, c_curr, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in [layers // 3, 2 * layers // 3]
            if reduction:
                c_curr *= 2
            cell = Cell(4, c_pp, c_p, c_curr, reduction, reduction_prev, i)
            reduction_prev = reduction
            self.cells.append(cell)
            c_pp, c_p = c_p, 4 * c_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, classes)
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(14, 7))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(14, 7))

    def weights(self):
        return [p for n, p in self.named_parameters() if not n.startswith('alphas')]

    def forward(self, x):
        s0 = s1 = self.stem(x)
        wn = F.softmax(self.alphas_normal, dim=-1)
        wr = F.softmax(self.alphas_reduce, dim=-1)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, wr if cell.reduction else wn)
        return self.classifier(self.global_pooling(s1).flatten(1))

    def entropy(self):
        p = F.softmax(torch.cat([self.alphas_normal, self.alphas_reduce]), dim=-1)
        return -(p * p.log()).sum(1).mean()


class BinOp:
    """bin_utils_search.py: binarize the cell-op convs around every step, with the XNOR gradient transform."""

    def __init__(self, model):
        self.targets = [m.conv.weight for m in model.modules() if isinstance(m, BinConvBlock)]
        self.saved = [None] * len(self.targets)

    def binarization(self):
        for i, w in enumerate(self.targets):
            w.data = w.data - w.data.mean(1, keepdim=True)
            w.data = w.data.clamp(-1.0, 1.0)
            self.saved[i] = w.data.clone()
            n = w.data[0].nelement()
            alpha = w.data.norm(1, 3, keepdim=True).sum(2, keepdim=True).sum(1, keepdim=True).div(n)
            w.data = w.data.sign() * alpha

    def restore(self):
        for i, w in enumerate(self.targets):
            w.data.copy_(self.saved[i])

    def update_grad(self):
        for w in self.targets:
            n = w.data[0].nelement()
            m = w.data.norm(1, 3, keepdim=True).sum(2, keepdim=True).sum(1, keepdim=True).div(n).expand(w.size())
            m = m.clone()
            m[w.data.lt(-1.0)] = 0
            m[w.data.gt(1.0)] = 0
            m = m.mul(w.grad.data)
            m_add = w.data.sign().mul(w.grad.data).sum(3, keepdim=True).sum(2, keepdim=True).sum(1, keepdim=True).div(n).expand(w.size())
            m_add = m_add.mul(w.data.sign())
            w.grad.data = m.add(m_add).mul(1.0 - 1.0 / w.data.size(1)).mul(n)


def proc_status_kib(field):
    try:
        with open('/proc/self/status') as status:
            for line in status:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak():
    """Resets VmHWM to the current resident size (Linux); False where that is not possible."""
    try:
        with open('/proc/self/clear_refs', 'w') as refs:
            refs.write('5')
        return True
    except OSError:
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--cells', type=int, default=5)
    parser.add_argument('--channels', type=int, default=8)
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--input', default='32x32x3')
    parser.add_argument('--classes', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    h, w, c = (int(v) for v in args.input.lower().split('x'))
    model = Network(args.channels, args.classes, args.cells, c)
    optimizer = torch.optim.SGD(model.weights(), 0.025, momentum=0.9, weight_decay=3e-4)
    arch_optimizer = torch.optim.Adam([model.alphas_normal, model.alphas_reduce], lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    bin_op = BinOp(model)
    x_train, x_valid = torch.randn(args.batch, c, h, w), torch.randn(args.batch, c, h, w)
    y = torch.arange(args.batch) % args.classes

    # The resident peak while stepping, measured as `bnas bench search-step` does: VmHWM reset to the current
    # resident size through /proc/self/clear_refs once the model is built, read after the timed steps.
    gc.collect()
    step_peak_measured = reset_peak()
    baseline = proc_status_kib('VmHWM')

    def step():
        bin_op.binarization()
        arch_optimizer.zero_grad()
        (F.cross_entropy(model(x_valid), y) - model.entropy()).backward()
        arch_optimizer.step()
        optimizer.zero_grad()
        F.cross_entropy(model(x_train), y).backward()
        bin_op.restore()
        bin_op.update_grad()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    times, cpu_times = [], []
    for _ in range(args.steps):
        start, cpu_start = time.perf_counter(), time.process_time()
        step()
        times.append((time.perf_counter() - start) * 1000)
        # CPU time of the process (all threads), as `bnas bench search-step` reports beside the wall clock.
        cpu_times.append((time.process_time() - cpu_start) * 1000)
    hwm = proc_status_kib('VmHWM')
    lifetime_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    step_peak = hwm * 1024 if step_peak_measured and hwm is not None else lifetime_peak
    print(json.dumps({
        'engine': 'pytorch ' + torch.__version__,
        'msPerStep': statistics.median(times),
        'stepsMs': times,
        'cpuMsPerStep': statistics.median(cpu_times),
        'peakRssBytes': lifetime_peak,
        'stepPeakRssBytes': step_peak,
        'stepAddedBytes': max(0, step_peak - baseline * 1024) if baseline is not None else None,
        'stepPeakMeasured': step_peak_measured and hwm is not None,
        'parameters': sum(p.numel() for p in model.weights()),
        'threads': args.threads,
    }))


if __name__ == '__main__':
    main()
