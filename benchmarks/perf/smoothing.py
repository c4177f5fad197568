"""How close int8 copies of one policy stay to it: plain dynamic int8 against SmoothQuant
smoothing at several alphas, by the KL divergence of their next-token distributions from the
fp32 policy's on the agent's tokens of oracle dialogs.

    python -m benchmarks.perf smoothing --policy runs/sft --tokenizer smollm2-135m
    python -m benchmarks.perf smoothing --policy smollm2-135m --tokenizer smollm2-135m --alphas 0.5 0.8

Each version is written by ``lm_envs.models.compress`` (``int8=True``, ``smooth=None`` for
plain, else ``smooth=alpha`` with the default calibration: the reset prompts of
``CustomerServiceDialog-v1``) and loaded back as every agent loads it. The dialogs are
``--dialogs`` episodes of the env's scripted oracle on training customers (``agents.sft``'s
``expert_demonstrations`` with ``--seed``; SFT's own default demonstrations are drawn with
seed 0), teacher-forced: each version reads the same transcript, and the KL is taken at every
position whose next token is the agent's. Printed per version: mean KL(fp32 || version),
top-1 agreement with fp32, and the version's mean negative log-likelihood of the oracle's
tokens (fp32's on the first line).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch

DIALOG_ID = "lm_envs/CustomerServiceDialog-v1"
MAX_DIALOGS = 256


@torch.no_grad()
def _next_token_logits(model: Any, demos: list[Any]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per dialog: the logits at positions whose next token is the agent's, and those tokens."""
    out = []
    for demo in demos:
        ids = torch.tensor([demo.input_ids])
        logits = model(input_ids=ids).logits[0, :-1].float()
        agent = torch.tensor(demo.loss_mask[1:], dtype=torch.bool)
        out.append((logits[agent], ids[0, 1:][agent]))
    return out


def _against(reference: list[tuple[torch.Tensor, torch.Tensor]],
             other: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    kl, agree, nll = [], [], []
    for (ref_logits, tokens), (logits, _) in zip(reference, other, strict=True):
        p, q = ref_logits.log_softmax(-1), logits.log_softmax(-1)
        kl.append((p.exp() * (p - q)).sum(-1))
        agree.append((ref_logits.argmax(-1) == logits.argmax(-1)).float())
        nll.append(-q.gather(1, tokens[:, None])[:, 0])
    return {"kl": float(torch.cat(kl).mean()), "top1": float(torch.cat(agree).mean()),
            "nll": float(torch.cat(nll).mean())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf smoothing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True, help="a policy folder or model name (anything compress takes)")
    parser.add_argument("--tokenizer", default=None, help="the dialog env's tokenizer (default: the policy's)")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.5, 0.65, 0.8, 0.9],
                        help="SmoothQuant alphas in [0, 1] (default 0.5 0.65 0.8 0.9)")
    parser.add_argument("--dialogs", type=int, default=12, help=f"oracle dialogs, 1 to {MAX_DIALOGS} (default 12)")
    parser.add_argument("--seed", type=int, default=5, help="draws the oracle's env seeds (default 5)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if not 1 <= args.dialogs <= MAX_DIALOGS or not all(0.0 <= a <= 1.0 for a in args.alphas) or args.threads < 1:
        parser.error(f"--dialogs must be in [1, {MAX_DIALOGS}], every --alphas in [0, 1], --threads >= 1")
    torch.set_num_threads(args.threads)
    from agents.sft import expert_demonstrations
    from benchmarks.perf.compress import fp32_policy
    from lm_envs.models import load_policy
    from lm_envs.models.compress import compress

    fp32, _ = fp32_policy(args.policy)
    tokenizer = args.tokenizer or args.policy
    demos = expert_demonstrations(DIALOG_ID, args.dialogs, seed=args.seed, env_kwargs={"tokenizer": tokenizer})
    reference = _next_token_logits(fp32.eval(), demos)
    rows = {"fp32": _against(reference, reference)}
    versions: dict[str, float | None] = {"int8 plain": None} | {f"int8 smoothed, alpha {a:g}": a for a in args.alphas}
    from tqdm.auto import tqdm

    with tempfile.TemporaryDirectory(prefix="smoothing-") as work:
        for name, alpha in tqdm(versions.items(), desc="int8 versions", unit="version"):
            folder = compress(args.policy, Path(work) / "int8", int8=True, smooth=alpha, tokenizer=args.tokenizer)
            rows[name] = _against(reference, _next_token_logits(load_policy(folder), demos))
    n_tokens = sum(len(tokens) for _, tokens in reference)
    print(f"\n{args.policy} on {args.dialogs} oracle dialogs of {DIALOG_ID} (training customers, seed {args.seed}; "
          f"{n_tokens} agent tokens), env tokenizer {tokenizer}, {args.threads} thread(s); calibration: compress's "
          "default.\n")
    print("| version | KL divergence from fp32 | top-1 agreement | NLL of the oracle's tokens |")
    print("|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['kl']:.4f} | {row['top1']:.3f} | {row['nll']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
