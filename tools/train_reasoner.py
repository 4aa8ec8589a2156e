#!/usr/bin/python3
"""Trains phasekv-tiny-reasoner: a Qwen2-architecture model that adds and subtracts 2-4 digit
numbers, thinking column by column inside <think>...</think> before it answers.

  /usr/bin/python3 tools/train_reasoner.py --out models/phasekv-tiny-reasoner

Plain PyTorch (no transformers). Deterministic from --seed. Writes a Hugging Face style folder:
config.json, model.safetensors (F16), tokenizer.json, tokenizer_config.json,
generation_config.json, heldout.jsonl, reference_logits.json, README.md.
Progress goes to stdout and to <work>/train.log; checkpoints to <work>/ckpt.pt.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reasoner_data as D  # noqa: E402
import safetensors_io  # noqa: E402


# ---- model (Qwen2ForCausalLM semantics) ---------------------------------------------------------
class Cfg:
    def __init__(self, **kw):
        self.vocab_size = D.VOCAB_SIZE
        self.hidden_size = 128
        self.intermediate_size = 384
        self.num_hidden_layers = 4
        self.num_attention_heads = 4
        self.num_key_value_heads = 2
        self.head_dim = 32
        self.max_position_embeddings = 512
        self.rms_norm_eps = 1e-6
        self.rope_theta = 10000.0
        self.tie_word_embeddings = True
        self.__dict__.update(kw)


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h, self.kv, self.d = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        self.q_proj = nn.Linear(c.hidden_size, self.h * self.d, bias=True)
        self.k_proj = nn.Linear(c.hidden_size, self.kv * self.d, bias=True)
        self.v_proj = nn.Linear(c.hidden_size, self.kv * self.d, bias=True)
        self.o_proj = nn.Linear(self.h * self.d, c.hidden_size, bias=False)

    def forward(self, x, cos, sin, cache=None):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.h, self.d).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.kv, self.d).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.kv, self.d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        rep = self.h // self.kv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        S = k.shape[2]
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.d)
        # causal: query t (absolute S-T+t) sees keys <= its position
        mask = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, self.h * self.d)
        return self.o_proj(y)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c.num_hidden_layers))
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        if not c.tie_word_embeddings:
            self.lm_head = nn.Linear(c.hidden_size, c.vocab_size, bias=False)
        inv = 1.0 / (c.rope_theta ** (torch.arange(0, c.head_dim, 2, dtype=torch.float32) / c.head_dim))
        self.register_buffer("inv_freq", inv, persistent=False)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids, start=0, caches=None):
        T = ids.shape[1]
        pos = torch.arange(start, start + T, dtype=torch.float32)
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat([freqs, freqs], dim=-1)
        cos, sin = emb.cos(), emb.sin()
        x = self.embed_tokens(ids)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, None if caches is None else caches[i])
        x = self.norm(x)
        w = self.embed_tokens.weight if self.c.tie_word_embeddings else self.lm_head.weight
        return x @ w.t()


# ---- data ---------------------------------------------------------------------------------------
def make_batch(rng, n):
    seqs, starts = [], []
    for _ in range(n):
        p, c = D.example_ids(*D.sample_train(rng))
        seqs.append(p + c)
        starts.append(len(p))
    T = max(map(len, seqs))
    x = torch.full((n, T - 1), D.PAD, dtype=torch.long)
    y = torch.full((n, T - 1), -100, dtype=torch.long)
    for i, (s, st) in enumerate(zip(seqs, starts)):
        t = torch.tensor(s)
        x[i, : len(s) - 1] = t[:-1]
        y[i, st - 1 : len(s) - 1] = t[st:]  # loss on the completion only
    return x, y


@torch.no_grad()
def generate(model, prompts, max_new=96):
    """Greedy decoding with a KV cache; prompts grouped by length. Returns completion id lists."""
    model.eval()
    out = [None] * len(prompts)
    groups = {}
    for i, p in enumerate(prompts):
        groups.setdefault(len(p), []).append(i)
    for L, idx in groups.items():
        caches = [dict() for _ in model.layers]
        x = torch.tensor([prompts[i] for i in idx])
        logits = model(x, 0, caches)[:, -1]
        gen = []
        done = torch.zeros(len(idx), dtype=torch.bool)
        for step in range(max_new):
            nxt = logits.argmax(-1)
            gen.append(nxt)
            done |= nxt == D.EOS
            if bool(done.all()):
                break
            logits = model(nxt[:, None], L + step, caches)[:, -1]
        g = torch.stack(gen, 1).tolist()
        for j, i in enumerate(idx):
            s = g[j]
            out[i] = s[: s.index(D.EOS) + 1] if D.EOS in s else s
    model.train()
    return out


def evaluate(model, problems):
    prompts = [D.example_ids(*p)[0] for p in problems]
    comps = generate(model, prompts)
    ok = 0
    think = total = 0
    for p, c in zip(problems, comps):
        _, ans, _ = D.solve(*p)
        text = D.decode(c)
        got = text.split("</think>")[-1].replace("<|eos|>", "").strip() if "</think>" in text else None
        ok += int(got == ans and text.endswith("<|eos|>"))
        if D.ENDTHINK in c:
            think += c.index(D.ENDTHINK) + 1
        total += len(c)
    return ok / len(problems), (think / total if total else 0.0)


# ---- export -------------------------------------------------------------------------------------
def hf_state(model):
    sd = {}
    for k, v in model.state_dict().items():
        if k == "inv_freq":
            continue
        name = k if k.startswith("lm_head") else "model." + k
        sd[name] = v.detach().float().numpy()
    return sd


def write_tokenizer(out):
    added = [
        {"id": D.VOCAB[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": s not in ("<think>", "</think>")}
        for s in D.SPECIALS
    ]
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "[\\s\\S]"}, "behavior": "Isolated",
                          "invert": False},
        "post_processor": None,
        "decoder": {"type": "Fuse"},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<|unk|>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": False, "vocab": dict(D.VOCAB), "merges": []},
    }
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(tok, f, indent=2, ensure_ascii=False)
    template = (
        "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
        "{{ bos_token }}"
        "{% for message in messages %}"
        "{% if message['role'] == 'system' %}{{ message['content'] }}"
        "{% elif message['role'] == 'user' %}{{ '<|User|>' + message['content'] }}"
        "{% elif message['role'] == 'assistant' %}"
        "{% set content = message['content'] %}"
        "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
        "{{ '<|Assistant|>' + content.strip() + eos_token }}"
        "{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|Assistant|><think>\\n' }}{% endif %}"
    )
    cfg = {
        "add_bos_token": False,
        "add_eos_token": False,
        "bos_token": "<|bos|>",
        "eos_token": "<|eos|>",
        "pad_token": "<|pad|>",
        "unk_token": "<|unk|>",
        "clean_up_tokenization_spaces": False,
        "model_max_length": 512,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "added_tokens_decoder": {
            str(a["id"]): {k: a[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
            for a in added
        },
        "chat_template": template,
    }
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2, ensure_ascii=False)


def write_config(out, c):
    conf = {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": c.hidden_size,
        "intermediate_size": c.intermediate_size,
        "num_hidden_layers": c.num_hidden_layers,
        "num_attention_heads": c.num_attention_heads,
        "num_key_value_heads": c.num_key_value_heads,
        "head_dim": c.head_dim,
        "hidden_act": "silu",
        "vocab_size": c.vocab_size,
        "max_position_embeddings": c.max_position_embeddings,
        "rms_norm_eps": c.rms_norm_eps,
        "rope_theta": c.rope_theta,
        "tie_word_embeddings": c.tie_word_embeddings,
        "attention_dropout": 0.0,
        "use_sliding_window": False,
        "bos_token_id": D.BOS,
        "eos_token_id": D.EOS,
        "pad_token_id": D.PAD,
        "torch_dtype": "float16",
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(conf, f, indent=2)
    gen = {"bos_token_id": D.BOS, "eos_token_id": D.EOS, "pad_token_id": D.PAD, "do_sample": False,
           "max_new_tokens": 128}
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)


def load_exported(out, c):
    """A fresh f32 model from the exported F16 safetensors (what the project's loader sees)."""
    m = Model(c)
    w = safetensors_io.read(os.path.join(out, "model.safetensors"))
    sd = {}
    for k, v in w.items():
        sd[k[len("model."):] if k.startswith("model.") else k] = torch.from_numpy(v.astype(np.float32))
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert not unexpected and all(k == "inv_freq" for k in missing), (missing, unexpected)
    m.eval()
    return m


def reference_inputs(heldout):
    a = heldout[0]
    b = heldout[1]
    pa, ca = D.example_ids(*a)
    pb, cb = D.example_ids(*b)
    k = cb.index(D.ENDTHINK)
    return [
        {"name": "prompt", "problem": D.key(*a), "ids": pa},
        {"name": "prompt_plus_partial_trace", "problem": D.key(*a), "ids": pa + ca[:25]},
        {"name": "through_end_of_think", "problem": D.key(*b), "ids": pb + cb[: k + 1]},
        {"name": "bos_only", "problem": None, "ids": [D.BOS]},
    ]


@torch.no_grad()
def write_reference(out, c, heldout):
    m = load_exported(out, c)
    refs = []
    for r in reference_inputs(heldout):
        ids = r["ids"]
        logits = m(torch.tensor([ids]))[0, -1]
        greedy = generate(m, [ids], max_new=16)[0]
        refs.append({**r, "text": D.decode(ids), "last_logits": [round(float(v), 5) for v in logits],
                     "argmax": int(logits.argmax()), "greedy_next_16": greedy,
                     "greedy_text": D.decode(greedy)})
    doc = {"note": "logits of the last position, computed in float32 by tools/train_reasoner.py from the "
                   "exported F16 weights in model.safetensors; greedy_next_16 is greedy decoding from ids "
                   "(stops early at <|eos|>)", "vocab_size": c.vocab_size, "inputs": refs}
    with open(os.path.join(out, "reference_logits.json"), "w") as f:
        json.dump(doc, f)
    return m


def export(out, model, c, heldout):
    os.makedirs(out, exist_ok=True)
    write_config(out, c)
    write_tokenizer(out)
    sd = {k: v.astype(np.float16) for k, v in hf_state(model).items()}
    safetensors_io.write(os.path.join(out, "model.safetensors"), sd, {"format": "pt"})
    with open(os.path.join(out, "heldout.jsonl"), "w") as f:
        for p in heldout:
            _, ans, res = D.solve(*p)
            f.write(json.dumps({"prompt": D.question(*p), "messages": [{"role": "user", "content": D.question(*p)}],
                                "answer": ans, "result": res,
                                "completion": D.completion(*p)[: -len("<|eos|>")]}) + "\n")
    return write_reference(out, c, heldout)


def write_readme(out, c, summary):
    hist = summary.get("history", [])
    curve = "\n".join(f"| {h['step']} | {h['loss_ema']:.4f} | {h['heldout_acc']:.3f} | {h['elapsed_s']} |" for h in hist)
    ex = (347, "+", 1286)
    sample = D.render_prompt(D.question(*ex)) + D.completion(*ex)
    text = f"""# phasekv-tiny-reasoner

A tiny reasoning model trained by the phasekv project (`tools/train_reasoner.py`), so that
`deno task serve` has a real model that thinks inside `<think>...</think>` and then answers.
It adds and subtracts whole numbers of 2 to 4 digits; nothing else.

## Task and data

- Problems: `a+b` or `a-b` with each operand 2-4 digits (digit count uniform in 2..4, value uniform
  within it); for subtraction `a >= b`. Asked as `What is a+b?`.
- Think trace: the operands restated padded to 4 digits, then the four columns right to left,
  each line `x+y+carry_in=digit c<carry_out>` (or `x-y-borrow_in=digit b<borrow_out>`).
- Answer (after `</think>`): the problem restated with the result, e.g. `347 + 1286 = 1633`.
- Training data is generated on the fly from a fixed seed. Held-out split: a problem is reserved
  when the first byte of sha256("a+b" / "a-b") is < 13 (about 5% of all problems); training
  never samples a reserved problem. `heldout.jsonl` holds 1000 reserved problems
  (prompt, chat messages, expected answer, result and the reference completion).
- Think fraction: in the reference completions of the held-out set, tokens up to and including
  `</think>` are {summary['think_fraction_reference']:.3f} of the generated tokens (the rest: the
  answer and `<|eos|>`); in the model's own greedy generations: {summary['think_fraction_generated']:.3f}.

One training sequence (prompt as the chat template renders it, plus the completion; loss on the
completion only):

```
{sample}
```

## Tokenizer

Character level: newline and the 95 printable ASCII characters, one token each, then the added
tokens `<|bos|>`, `<|eos|>`, `<|User|>`, `<|Assistant|>`, `<think>`, `</think>`, `<|pad|>`,
`<|unk|>` (ids {D.BOS}..{D.UNK}; `<think>`/`</think>` are added tokens with `special: false`, as
in DeepSeek-R1). `tokenizer.json` is a BPE model with no merges (every character is its own
token), a pre-tokenizer that isolates every character and a Fuse decoder; checked to encode to the
same ids with `@huggingface/tokenizers` 0.2.0 as the Python training code. The chat template is
DeepSeek-R1's shape: `<|bos|>`, user turns `<|User|>...`, earlier assistant turns keep only the
text after `</think>` followed by `<|eos|>`, and the generation prompt `<|Assistant|><think>\n`
opens the think block.

## Architecture

Qwen2ForCausalLM: RMSNorm (eps {c.rms_norm_eps}), RoPE rotate-half (theta {c.rope_theta:g}),
grouped-query attention with q/k/v biases, SwiGLU MLP, tied embeddings.

| hidden | layers | q heads | kv heads | head_dim | intermediate | vocab | params |
|---|---|---|---|---|---|---|---|
| {c.hidden_size} | {c.num_hidden_layers} | {c.num_attention_heads} | {c.num_key_value_heads} | {c.head_dim} | {c.intermediate_size} | {c.vocab_size} | {summary['params']:,} |

Weights are stored as F16 in `model.safetensors` (HF tensor names).

## Training

AdamW (betas 0.9/0.98, weight decay 0.01), peak lr {summary['args']['lr']}, {summary['args']['warmup']} warmup
steps then cosine to 5%, batch {summary['batch']} sequences, gradient clip 1.0, seed {summary['args']['seed']}.
{summary['steps']} steps in {summary['train_seconds']} s on 2 CPU cores (PyTorch, float32).

| step | loss (EMA) | held-out exact match (200, greedy) | elapsed s |
|---|---|---|---|
{curve}

## Result

Exact match of the answer (text after `</think>`, up to `<|eos|>`) with greedy decoding on
{summary['heldout_n']} held-out problems, computed in PyTorch float32 from the exported F16
weights: **{summary['heldout_acc'] * 100:.1f}%**.

`reference_logits.json` holds, for 4 fixed token-id inputs, the last-position logits and the
greedy next 16 tokens computed the same way, for checking other implementations of the forward
pass.

## Reproduce

```
/usr/bin/python3 tools/train_reasoner.py --out models/phasekv-tiny-reasoner --steps {summary['steps']}
```

(the run that produced these weights used `{' '.join(summary.get('argv', []))}`; with a `--minutes`
budget the learning-rate schedule follows wall-clock time, so to reproduce exactly pass the step
count above without `--minutes` and the same other arguments.)
"""
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(text)


# ---- main ---------------------------------------------------------------------------------------
def lr_at(step, progress, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="models/phasekv-tiny-reasoner")
    ap.add_argument("--work", default="/tmp/phasekv-reasoner-train")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--eval-n", type=int, default=200)
    ap.add_argument("--final-eval-n", type=int, default=1000)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--intermediate", type=int, default=384)
    ap.add_argument("--minutes", type=float, default=0.0,
                    help="wall-clock budget: the LR schedule follows max(step/steps, elapsed/minutes) "
                         "and training stops when that reaches 1 (re-run with --steps N to reproduce)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--export-only", action="store_true", help="export <work>/ckpt.pt and evaluate")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.work, exist_ok=True)
    log = open(os.path.join(args.work, "train.log"), "a")

    def say(*a):
        s = " ".join(str(x) for x in a)
        print(s, flush=True)
        log.write(s + "\n")
        log.flush()

    c = Cfg(hidden_size=args.hidden, num_hidden_layers=args.layers, intermediate_size=args.intermediate)
    model = Model(c)
    nparam = sum(p.numel() for p in model.parameters())
    heldout = D.heldout_set(1000)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    rng = random.Random(args.seed)
    step0 = 0
    ck = os.path.join(args.work, "ckpt.pt")
    history = []
    if (args.resume or args.export_only) and os.path.exists(ck):
        st = torch.load(ck)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        rng.setstate(st["rng"])
        torch.set_rng_state(st["torch_rng"])
        step0 = st["step"]
        history = st.get("history", [])
        say(f"resumed from step {step0}")
    say(f"params {nparam} cfg {c.__dict__} args {vars(args)}")

    t0 = time.time()
    tok_acc = 0
    tstart = time.time() - (history[-1]["elapsed_s"] if history else 0)
    step = step0
    loss_ema = None
    for step in range(step0, 0 if args.export_only else args.steps):
        progress = (step - args.warmup) / max(1, args.steps - args.warmup)
        if args.minutes > 0:
            progress = max(progress, (time.time() - tstart) / 60 / args.minutes)
        if progress >= 1.0 and args.minutes > 0:
            say(f"time budget reached at step {step}")
            step -= 1
            break
        lr = lr_at(step, progress, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = make_batch(rng, args.batch)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, c.vocab_size), y.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tok_acc += x.numel()
        loss_ema = loss.item() if loss_ema is None else 0.95 * loss_ema + 0.05 * loss.item()
        if (step + 1) % 25 == 0:
            dt = time.time() - t0
            say(f"step {step + 1} loss {loss.item():.4f} ema {loss_ema:.4f} lr {lr:.2e} tok/s {tok_acc / dt:.0f} "
                f"elapsed {time.time() - tstart:.0f}s")
            t0, tok_acc = time.time(), 0
        if (step + 1) % args.eval_every == 0:
            te = time.time()
            acc, tf = evaluate(model, heldout[: args.eval_n])
            history.append({"step": step + 1, "loss_ema": round(loss_ema, 5), "heldout_acc": acc,
                            "elapsed_s": round(time.time() - tstart)})
            say(f"EVAL step {step + 1} heldout_acc {acc:.3f} (n={args.eval_n}) think_frac {tf:.3f} "
                f"eval {time.time() - te:.0f}s")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "rng": rng.getstate(),
                        "torch_rng": torch.get_rng_state(), "step": step + 1, "history": history}, ck + ".tmp")
            os.replace(ck + ".tmp", ck)
            export(args.out, model, c, heldout)
            t0, tok_acc = time.time(), 0

    steps_done = step + 1 if not args.export_only else step0
    if not args.export_only:
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "rng": rng.getstate(),
                    "torch_rng": torch.get_rng_state(), "step": steps_done, "history": history}, ck)
    train_seconds = round(time.time() - tstart)
    m = export(args.out, model, c, heldout)
    te = time.time()
    acc, tf = evaluate(m, heldout[: args.final_eval_n])
    say(f"FINAL heldout_acc {acc:.4f} (n={args.final_eval_n}, exported F16 weights, greedy) think_frac {tf:.4f} "
        f"eval {time.time() - te:.0f}s")
    summary = {"params": nparam, "steps": steps_done, "batch": args.batch,
               "train_seconds": train_seconds,
               "heldout_acc": acc, "heldout_n": args.final_eval_n, "think_fraction_generated": tf,
               "think_fraction_reference": D.think_fraction(heldout), "history": history,
               "args": vars(args)}
    summary["argv"] = sys.argv[1:]
    prev = os.path.join(args.out, "training_summary.json")
    if args.export_only and os.path.exists(prev):
        old = json.load(open(prev))
        if old.get("steps") == steps_done:
            for k in ("train_seconds", "argv", "args", "batch"):
                summary[k] = old.get(k, summary[k])
    with open(prev, "w") as f:
        json.dump(summary, f, indent=1)
    write_readme(args.out, c, summary)
    say("done")


if __name__ == "__main__":
    main()
