"""Task family, traces, tokenizer and held-out split for phasekv-tiny-reasoner.

Problems: a+b or a-b (a >= b for subtraction), each operand 2-4 digits.
The think trace restates the operands padded to 4 digits, then works the four columns
right to left with the carry (c) or borrow (b); the answer restates the problem with the result.
"""
import hashlib
import json
import random

# ---- tokenizer --------------------------------------------------------------------------------
# Every printable ASCII character and newline, one token each; then the added tokens.
CHARS = ["\n"] + [chr(c) for c in range(32, 127)]
SPECIALS = ["<|bos|>", "<|eos|>", "<|User|>", "<|Assistant|>", "<think>", "</think>", "<|pad|>", "<|unk|>"]
VOCAB = {}
for _c in CHARS:
    if _c not in VOCAB:
        VOCAB[_c] = len(VOCAB)
for _s in SPECIALS:
    VOCAB[_s] = len(VOCAB)
ITOS = {i: s for s, i in VOCAB.items()}
BOS, EOS, USER, ASSISTANT, THINK, ENDTHINK, PAD, UNK = (VOCAB[s] for s in SPECIALS)
VOCAB_SIZE = len(VOCAB)


def encode(text):
    """Longest-match added tokens, everything else one character a token."""
    ids = []
    i = 0
    while i < len(text):
        for s in SPECIALS:
            if text.startswith(s, i):
                ids.append(VOCAB[s])
                i += len(s)
                break
        else:
            ids.append(VOCAB.get(text[i], VOCAB["<|unk|>"]))
            i += 1
    return ids


def decode(ids):
    return "".join(ITOS[i] for i in ids)


# ---- chat template (DeepSeek-R1 style) ---------------------------------------------------------
def render_prompt(user):
    return "<|bos|><|User|>" + user + "<|Assistant|><think>\n"


def question(a, op, b):
    return f"What is {a}{op}{b}?"


# ---- traces -----------------------------------------------------------------------------------
def solve(a, op, b):
    """Returns (trace, answer_text, result)."""
    da, db = f"{a:04d}", f"{b:04d}"
    lines = [f"{da}{op}{db}"]
    c = 0
    digits = []
    for k in range(3, -1, -1):
        x, y = int(da[k]), int(db[k])
        if op == "+":
            cin = c
            s = x + y + cin
            d, c = s % 10, s // 10
            lines.append(f"{x}+{y}+{cin}={d} c{c}")
        else:
            s = x - y - c
            cin = c
            d, c = (s + 10, 1) if s < 0 else (s, 0)
            lines.append(f"{x}-{y}-{cin}={d} b{c}")
        digits.append(d)
    result = a + b if op == "+" else a - b
    trace = "\n".join(lines)
    answer = f"{a} {op} {b} = {result}"
    return trace, answer, result


def completion(a, op, b):
    trace, answer, _ = solve(a, op, b)
    return trace + "\n</think>\n\n" + answer + "<|eos|>"


# ---- problems and split -----------------------------------------------------------------------
def key(a, op, b):
    return f"{a}{op}{b}"


def is_heldout(a, op, b):
    h = hashlib.sha256(key(a, op, b).encode()).digest()
    return h[0] < 13  # ~5% of all problems are reserved for evaluation


def sample_problem(rng):
    op = rng.choice("+-")
    na, nb = rng.randint(2, 4), rng.randint(2, 4)
    a = rng.randint(10 ** (na - 1), 10**na - 1)
    b = rng.randint(10 ** (nb - 1), 10**nb - 1)
    if op == "-" and a < b:
        a, b = b, a
    return a, op, b


def sample_train(rng):
    while True:
        p = sample_problem(rng)
        if not is_heldout(*p):
            return p


def heldout_set(n=1000, seed=12345):
    rng = random.Random(seed)
    seen = set()
    out = []
    while len(out) < n:
        p = sample_problem(rng)
        if is_heldout(*p) and key(*p) not in seen:
            seen.add(key(*p))
            out.append(p)
    return out


def example_ids(a, op, b):
    """(prompt ids, completion ids)."""
    return encode(render_prompt(question(a, op, b))), encode(completion(a, op, b))


def think_fraction(problems):
    think = total = 0
    for p in problems:
        _, comp = example_ids(*p)
        k = comp.index(ENDTHINK) + 1
        think += k
        total += len(comp)
    return think / total


if __name__ == "__main__":
    for p in [(347, "+", 1286), (1286, "-", 347), (99, "+", 9901), (1000, "-", 999)]:
        print(render_prompt(question(*p)) + completion(*p))
        print("----")
    print("vocab", VOCAB_SIZE)
    hs = heldout_set()
    print("think fraction", think_fraction(hs))
    print("max len", max(sum(map(len, example_ids(*p))) for p in hs))
