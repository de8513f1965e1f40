"""Seed 002's attention-diversity loss (PAMDFGA, Guan and Zhou 2023, Eqs.
8-12), an auxiliary loss that pushes the self-attention heads of a
transformer's last layers apart.

Every head i of the chosen layers (n = layers * heads of them) has an
attention map A_i of shape L x (P + L) for a sentence of L word pieces: rows
are the sentence's queries, columns the P prefix keys followed by the L
sentence keys. Summed over the sentence's queries, a map becomes the
attention each key received:

    p_i = sum_q A_i[q, :]              in R^(P+L)   prefix keys included
    o_i = sum_q A_i[q, P:]             in R^L       the sentence's own keys

Both are L2-normalised, and each head is its own class in an instance
discrimination (Wu et al. 2018) with temperature tau:

    P(i | v) = exp(v_i . v / tau) / sum_j exp(v_j . v / tau)
    Loss_v   = - sum_i log P(i | v_i)                 for v = o and v = p
    Loss     = (Loss_p + Loss_o) / 2

averaged over the sentences of a batch (padding queries excluded). Without
a prefix (P = 0), p_i = o_i. ``parts`` keeps one of the two for the paper's
ablation ("o": without Loss_p, "p": without Loss_o), whose loss is then that
part alone.
"""
from typing import Sequence

import torch
import torch.nn.functional as F

PARTS = ("both", "o", "p")


def received_attention(attentions: torch.Tensor, query_mask: torch.Tensor) -> torch.Tensor:
    """(batch, heads, P + L): the attention each key received from the
    sentence's queries, for maps (batch, heads, L, P + L) and a query mask
    (batch, L) of 1 (word piece) and 0 (padding)."""
    weights = query_mask.to(attentions.dtype)[:, None, :, None]
    return (attentions * weights).sum(dim=2)


def instance_discrimination(vectors: torch.Tensor, temperature: float) -> torch.Tensor:
    """- sum_i log P(i | v_i) for each sentence: vectors (batch, heads, D),
    L2-normalised here; returns (batch,)."""
    unit = F.normalize(vectors, p=2, dim=-1)
    logits = unit @ unit.transpose(1, 2) / temperature
    heads = torch.arange(vectors.shape[1], device=vectors.device)
    log_p = torch.log_softmax(logits, dim=-1)[:, heads, heads]
    return -log_p.sum(dim=-1)


def attention_diversity_loss(
    attentions: Sequence[torch.Tensor],
    query_mask: torch.Tensor,
    prefix_length: int,
    temperature: float = 2.0,
    parts: str = "both",
) -> torch.Tensor:
    """Seed 002's Loss_PAMDFGA over the heads of ``attentions`` (one map
    (batch, heads, L, P + L) per layer), averaged over the batch."""
    if parts not in PARTS:
        raise ValueError(f"attention diversity parts must be one of {', '.join(PARTS)}, not {parts!r}")
    if not attentions:
        raise ValueError("attention diversity needs the attention maps of at least one layer")
    maps = torch.cat(list(attentions), dim=1)
    received = received_attention(maps, query_mask)
    losses = []
    if parts in ("both", "p"):
        losses.append(instance_discrimination(received, temperature))
    if parts in ("both", "o"):
        losses.append(instance_discrimination(received[..., prefix_length:], temperature))
    return torch.stack(losses).mean(dim=0).mean()
