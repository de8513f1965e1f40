"""The word-pair grid network of seed 002 (after W2NER), in PyTorch.

Input: the words of S sentences, concatenated (N, nI), their lengths, and
the sentences' grouping into padded grid batches. For a group of B sentences
padded to L words:

    h = BiLSTM(x)                                         (B, L, hidden)
    W_ij = gamma_i * (h_j - mu_j) / sigma_j + lambda_i    conditional layer norm,
           gamma_i = W_a h_i + b_a, lambda_i = W_b h_i + b_b
    G = MLP([W ; D ; R])                                   distance, region embeddings
    S = [GELU(DConv_d(G)) for d in dilations]              dilated 3x3 convolutions
    logits_ij = MLP(S_ij)                                  over {None, NNW, THW-type}

Cells outside a sentence (padding) are zeroed before the convolutions, so a
sentence's scores do not depend on what it is batched with.

The BiLSTM reads every sentence of the call at once (one packed sequence),
not group by group: a recurrence's cost is in its steps, and one call of
S sentences takes as many steps as its longest sentence, where one call per
group took the sum of the groups' lengths.

Training computes these equations as written (``relations_of_cells``);
prediction computes the same function factored (``relations_factored``:
no per-cell concatenation, the per-word terms computed per word), with less
memory traffic per cell.
"""
from typing import Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

N_DISTANCE_BUCKETS = 19  # 0, then 9 log2 buckets for each sign


def distance_buckets(length: int, device=None) -> torch.Tensor:
    """Bucket of the signed distance j - i of each cell (i, j): 0 on the
    diagonal; 1 + floor(log2 |d|) (capped at 9) to the right; +9 to the left."""
    index = torch.arange(length, device=device)
    distance = index[None, :] - index[:, None]
    magnitude = distance.abs().clamp(min=1).float().log2().floor().long().add(1).clamp(max=9)
    bucket = torch.where(distance > 0, magnitude, magnitude + 9)
    return torch.where(distance == 0, torch.zeros_like(bucket), bucket)


def regions(lengths: torch.Tensor, length: int) -> torch.Tensor:
    """Region id of each cell: 0 padding, 1 lower triangle and diagonal (the
    THW cells), 2 upper triangle (the NNW cells)."""
    index = torch.arange(length, device=lengths.device)
    inside = (index[None, :] < lengths[:, None])  # (B, L)
    cells = inside[:, :, None] & inside[:, None, :]
    upper = (index[None, :] > index[:, None])[None]
    return torch.where(cells, torch.where(upper, 2, 1), 0)


class ConditionalLayerNorm(nn.Module):
    """W_ij = gamma(h_i) * normalise(h_j) + lambda(h_i). The condition layers
    start at zero weight, so at initialisation W_ij is plain LayerNorm(h_j)."""

    def __init__(self, width: int, eps: float = 1e-5):
        super().__init__()
        self.gain = nn.Linear(width, width)
        self.bias = nn.Linear(width, width)
        self.eps = eps
        nn.init.zeros_(self.gain.weight)
        nn.init.ones_(self.gain.bias)
        nn.init.zeros_(self.bias.weight)
        nn.init.zeros_(self.bias.bias)

    def normalise(self, h: torch.Tensor) -> torch.Tensor:
        """(h_j - mu_j) / sigma_j for every word: (B, L, d), computed in
        float32 (at least) whatever h's dtype."""
        wide = h.float() if h.dtype in (torch.float16, torch.bfloat16) else h
        mean = wide.mean(dim=-1, keepdim=True)
        return ((wide - mean) / (wide.var(dim=-1, keepdim=True, unbiased=False) + self.eps).sqrt()).to(h.dtype)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        normed = self.normalise(h)
        return self.gain(h)[:, :, None, :] * normed[:, None, :, :] + self.bias(h)[:, :, None, :]


class WordPairGrid(nn.Module):
    def __init__(
        self,
        nI: int,
        nO: int,
        hidden: int = 128,
        channels: int = 64,
        distance_width: int = 20,
        region_width: int = 20,
        dilations: Sequence[int] = (1, 2, 3),
        dropout: float = 0.2,
    ):
        super().__init__()
        # "bfloat16": bfloat16 weights when predicting (the tagger's run setting)
        self.inference_dtype = "float32"
        if hidden % 2:
            raise ValueError(f"word-pair grid: hidden must be even (two LSTM directions), got {hidden}")
        if not dilations or any(d < 1 for d in dilations):
            raise ValueError(f"word-pair grid: dilations must be positive integers, got {list(dilations)}")
        self.lstm = nn.LSTM(nI, hidden // 2, batch_first=True, bidirectional=True)
        self.cln = ConditionalLayerNorm(hidden)
        self.distance = nn.Embedding(N_DISTANCE_BUCKETS, distance_width)
        self.region = nn.Embedding(3, region_width)
        self.reduce = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden + distance_width + region_width, channels), nn.GELU())
        self.convs = nn.ModuleList(
            nn.Conv2d(channels, channels, kernel_size=3, padding=d, dilation=d) for d in dilations
        )
        self.conv_dropout = nn.Dropout2d(dropout)
        self.classify = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(channels * len(self.convs), channels),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(channels, nO),
        )

    def resize_output(self, nO: int) -> None:
        last = self.classify[-1]
        if last.out_features != nO:
            self.classify[-1] = nn.Linear(last.in_features, nO).to(last.weight.device)

    def forward(
        self, words: torch.Tensor, lengths: torch.Tensor, groups: Optional[Sequence[Sequence[int]]] = None,
        in_bfloat16: bool = False,
    ) -> Tuple[torch.Tensor, ...]:
        """The (B, L, L, nO) logits of each group of sentences. ``words``:
        the sentences' word vectors concatenated, (sum of lengths, nI);
        ``groups``: lists of sentence indices, each computed as one padded
        batch, its rows in the list's order (default: all sentences in
        order, one group).
        When predicting with ``inference_dtype`` "bfloat16" (set by the
        tagger; never in training), everything after the BiLSTM runs on
        bfloat16 copies of the weights (``in_bfloat16``: this call is that
        run) and the logits come back as bfloat16."""
        if groups is None:
            groups = [list(range(len(lengths)))]
        if in_bfloat16 or self.training or self.inference_dtype != "bfloat16":
            return self.relations(words, lengths, groups)  # no context: an outer autocast (mixed precision) stays on
        weights = {name: weight.to(torch.bfloat16) for name, weight in self.named_parameters()
                   if not name.startswith("lstm.")}
        return torch.func.functional_call(self, weights, (words, lengths, groups), {"in_bfloat16": True})

    def encode(self, words: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """h = BiLSTM(x) over each sentence's own words, all sentences in one
        packed call. Returns the states (N + 1, hidden) in the packed order,
        with a zero row last, and ``position`` (S, longest): the row of
        sentence s's word t in the states, the zero row past its end.

        The packed sequence is built from the words directly (no padded copy
        of every sentence to the longest one's length, which is what
        ``pack_sequence`` makes): packed row ``first_row[t] + rank[s]``
        holds sentence s's word t, with sentences ranked longest first."""
        n_words = len(words)
        lengths_cpu = lengths.cpu()
        sorted_indices = torch.argsort(lengths_cpu, descending=True, stable=True)
        rank = torch.empty_like(sorted_indices)
        rank[sorted_indices] = torch.arange(len(sorted_indices))
        t = torch.arange(int(lengths_cpu.max()) if n_words else 0)
        inside = t[None, :] < lengths_cpu[:, None]  # (S, longest)
        steps = inside.sum(dim=0)  # the batch size of each step: sentences longer than t
        first_row = torch.cumsum(steps, 0) - steps
        position = torch.where(inside, first_row[None, :] + rank[:, None], n_words)
        start = torch.cumsum(lengths_cpu, 0) - lengths_cpu
        source = torch.empty(n_words, dtype=torch.long)  # the word each packed row reads
        source[position[inside]] = (start[:, None] + t[None, :]).expand_as(inside)[inside]
        device = words.device
        packed = PackedSequence(words[source.to(device)], steps, sorted_indices.to(device), rank.to(device))
        states, _ = self.lstm(packed)
        states = states.data.to(self.reduce[1].weight.dtype)  # bfloat16 in a bfloat16 prediction
        states = torch.cat([states, states.new_zeros(1, states.shape[1])])
        return states, position.to(device)

    def relations(self, words: torch.Tensor, lengths: torch.Tensor, groups: Sequence[Sequence[int]]) -> Tuple[torch.Tensor, ...]:
        states, position = self.encode(words, lengths)
        sizes = lengths.tolist()
        logits = []
        for group in map(list, groups):
            L = max(sizes[k] for k in group)  # from the CPU copy: no device synchronisation
            h = states[position[group, :L]]  # (B, L, hidden)
            region = regions(lengths[group].to(words.device), L)  # (B, L, L)
            logits.append(self.relations_of_cells(h, region) if self.training else self.relations_factored(h, region))
        return tuple(logits)

    def relations_of_cells(self, h: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
        """The equations as written: every cell's [W_ij ; D_ij ; R_ij], then
        the MLP, the convolutions and the classifier (dropout included)."""
        B, L, _ = h.shape
        inside = (region > 0).unsqueeze(-1).to(h.dtype)
        W = self.cln(h)
        D = self.distance(distance_buckets(L, h.device)).unsqueeze(0).expand(B, L, L, -1)
        G = self.reduce(torch.cat([W, D, self.region(region)], dim=-1)) * inside
        G = self.conv_dropout(G.permute(0, 3, 1, 2))
        S = torch.cat([nn.functional.gelu(conv(G)) for conv in self.convs], dim=1).permute(0, 2, 3, 1)
        return self.classify(S)

    def relations_factored(self, h: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
        """The same function without dropout (prediction), with no per-cell
        concatenation. A linear layer over [W ; D ; R] is the sum of its
        weight blocks applied to each part, and W_ij = gamma_i * n_j + lambda_i,
        so the grid MLP's input is

            A_W (gamma_i * n_j) + A_W lambda_i + (A_D E_D)[bucket_ij] + (A_R E_R)[region_ij] + b

        where only the first term is computed per cell; the others are per
        word or per table row. Likewise the classifier's first layer over the
        concatenated convolutions is the sum of its blocks over each one."""
        hidden = h.shape[-1]
        reduce = self.reduce[1]
        A_W, A_D, A_R = reduce.weight.split([hidden, self.distance.embedding_dim, self.region.embedding_dim], dim=1)
        normed = self.cln.normalise(h)
        per_cell = (self.cln.gain(h)[:, :, None, :] * normed[:, None, :, :]) @ A_W.T
        per_word = self.cln.bias(h) @ A_W.T + reduce.bias
        distance = (self.distance.weight @ A_D.T)[distance_buckets(h.shape[1], h.device)]
        G = nn.functional.gelu(per_cell + per_word[:, :, None, :] + distance + (self.region.weight @ A_R.T)[region])
        G = (G * (region > 0).unsqueeze(-1).to(G.dtype)).permute(0, 3, 1, 2)
        first, last = self.classify[1], self.classify[-1]
        blocks = first.weight.split(self.convs[0].out_channels, dim=1)
        hidden_out = first.bias
        for conv, block in zip(self.convs, blocks):
            hidden_out = hidden_out + nn.functional.gelu(conv(G)).permute(0, 2, 3, 1) @ block.T
        return last(nn.functional.gelu(hidden_out))
