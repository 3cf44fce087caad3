#!/usr/bin/python3
"""PyTorch peer of bench/bench_train.c: the same claims-small GPT (pre-LN,
learned positions, tied embeddings, GELU tanh, LayerNorm eps 1e-5, explicit
causal softmax attention), the same loss (mean cross-entropy), AdamW (wd 0.1
on matrices, lr 3e-4), clip_grad_norm_ 1.0, the same flags and the same
output lines. Run with Debian's /usr/bin/python3 (torch 1.13).

A step is zero_grad + forward + loss + backward + clip + AdamW; --bf16 runs
forward and loss under torch.autocast("cpu", dtype=torch.bfloat16)."""

import argparse
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

DATA_SEED = 1234
MODEL_SEED = 42
LR = 3e-4
WEIGHT_DECAY = 0.1
CLIP_NORM = 1.0


class Block(nn.Module):
    def __init__(self, d, heads, ff, n_layers):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d, eps=1e-5)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d, eps=1e-5)
        self.fc1 = nn.Linear(d, ff)
        self.fc2 = nn.Linear(ff, d)
        for lin in (self.qkv, self.proj, self.fc1, self.fc2):
            nn.init.normal_(lin.weight, 0.0, 0.02)
            nn.init.zeros_(lin.bias)
        # GPT-2 residual projection init, as tg_init_gpt2_residual.
        for lin in (self.proj, self.fc2):
            nn.init.normal_(lin.weight, 0.0, 0.02 / math.sqrt(2 * n_layers))

    def attention(self, x, mask):
        B, T, D = x.shape
        H = self.heads
        qkv = self.qkv(x).view(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)  # (3, B, H, T, Dh)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D // H))  # (B, H, T, T)
        att = att.masked_fill(mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        return self.proj(y)

    def forward(self, x, mask):
        x = x + self.attention(self.ln1(x), mask)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab, d, layers, heads, ff, max_seq):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(max_seq, d)
        nn.init.normal_(self.wte.weight, 0.0, 0.02)
        nn.init.normal_(self.wpe.weight, 0.0, 0.02)
        self.blocks = nn.ModuleList(Block(d, heads, ff, layers) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d, eps=1e-5)

    def loss(self, idx, targets):
        T = idx.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)  # True above the diagonal: future keys
        h = self.wte(idx) + self.wpe(torch.arange(T))
        for blk in self.blocks:
            h = blk(h, mask)
        logits = self.ln_f(h) @ self.wte.weight.t()  # tied output projection, (B, T, V)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))


def positive(lo):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or v < lo:
            raise argparse.ArgumentTypeError(f"expects an integer >= {lo}, got '{text}'")
        return v
    return parse


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default, lo in (("vocab", 8192, 2), ("d", 256, 1), ("layers", 4, 1), ("heads", 4, 1),
                              ("ff", 1024, 1), ("seq", 256, 1), ("batch", 16, 1), ("steps", 6, 1),
                              ("threads", 2, 1), ("warmup", 2, 0)):
        p.add_argument("--" + name, type=positive(lo), default=default)
    p.add_argument("--bf16", action="store_true")
    a = p.parse_args(argv)
    if a.d % a.heads:
        p.error(f"--d {a.d} must be divisible by --heads {a.heads}")
    return a


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main(argv):
    a = parse_args(argv)  # exits 2 on a bad flag
    torch.set_num_threads(a.threads)
    torch.manual_seed(MODEL_SEED)
    model = GPT(a.vocab, a.d, a.layers, a.heads, a.ff, a.seq)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}], lr=LR)
    gen = torch.Generator().manual_seed(DATA_SEED)
    stream = torch.randint(a.vocab, (a.batch, a.seq + 1), generator=gen)
    idx, targets = stream[:, :-1].contiguous(), stream[:, 1:].contiguous()

    print(f'cpu="{cpu_model()}" threads={torch.get_num_threads()} dtype={"bf16" if a.bf16 else "fp32"} '
          f"vocab={a.vocab} d={a.d} layers={a.layers} heads={a.heads} ff={a.ff} seq={a.seq} "
          f"batch={a.batch} steps={a.steps} warmup={a.warmup} torch={torch.__version__}", flush=True)

    step_s, phases = [], {k: [] for k in ("forward", "backward", "clip", "optim")}
    first_loss = loss_value = float("nan")
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            loss = model.loss(idx, targets)
        loss_value = loss.item()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        if i == 0:
            first_loss = loss_value
        if not math.isfinite(loss_value):
            print(f"torch_peer: loss {loss_value} at step {i + 1} is not finite", file=sys.stderr)
            return 1
        if i >= a.warmup:
            step_s.append(t4 - t0)
            for k, v in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                phases[k].append(v)

    med = statistics.median(step_s)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("phase_median_s " + " ".join(f"{k}={statistics.median(v):.4f}" for k, v in phases.items()))
    print(f"tokens_per_s={a.batch * a.seq / med:.1f} median_step_s={med:.4f} peak_rss_mb={rss_mb:.1f} "
          f"first_loss={first_loss:.4f} last_loss={loss_value:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
