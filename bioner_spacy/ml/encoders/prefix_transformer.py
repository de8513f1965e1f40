"""Seed 002's prefix-guided transformer (E-BioBERT, Guan and Zhou 2023): a
Hugging Face encoder inside spacy-transformers whose every layer attends over
P trainable prefix keys and values besides the sentence's own (the paper's
Eq. 7, per head h of a layer):

    A_h = softmax(Q_h [phi_k^h ; K_h]^T / sqrt(d)) [phi_v^h ; V_h]

phi_k, phi_v in R^(P x d) per layer, split across the heads like K and V;
the prefixes belong to no layer below (they are not computed from the
input). In training, the attention-diversity loss of the last layers' heads
(``attention_diversity.py``) is added to the NER loss with weight alpha:
Loss_total = Loss_NER + alpha * Loss_PAMDFGA. It rides on the encoder's
output: the forward pass is unchanged, and the backward pass that the NER
head's gradient starts also carries alpha * dLoss_PAMDFGA, so any head over
the transformer (``cfa_ner``, ``grid_ner``) trains with it and nothing else
in spaCy changes. At inference only the prefixes remain (P more keys per
layer); no attention maps are kept.

``bioner.PrefixTransformerModel.v1`` takes spacy-transformers'
``TransformerModel.v3`` settings plus the prefix and loss settings. With
P = 0 and alpha = 0 it is the plain encoder. The prefixes are saved with the
encoder's weights and restored on load. The encoder must take
``past_key_values`` and ``position_ids`` (BERT, RoBERTa and their kin):
the sentence's positions are numbered as the encoder numbers them without a
prefix. Not with ``mixed_precision`` while the diversity loss is on (the
grad scaler would not scale the gradient it adds).
"""
import inspect
from dataclasses import dataclass
from io import BytesIO
from typing import Callable, Dict, Optional

import srsly
import torch
from spacy.util import registry
from spacy_transformers.layers.hf_shim import HFShim
from spacy_transformers.layers.transformer_model import TransformerModel, set_pytorch_transformer
from transformers.modeling_outputs import BaseModelOutput

from .attention_diversity import PARTS, attention_diversity_loss

ENCODER = "encoder."


@dataclass(frozen=True)
class PrefixSettings:
    """P prefix vectors per layer; the diversity loss's weight alpha, layers
    (the last ``diversity_layers``), temperature tau and parts."""

    prefix_length: int = 11
    diversity_weight: float = 0.01
    diversity_layers: int = 4
    temperature: float = 2.0
    diversity_parts: str = "both"

    def __post_init__(self):
        if not isinstance(self.prefix_length, int) or self.prefix_length < 0:
            raise ValueError(f"prefix_length must be an integer >= 0, not {self.prefix_length!r}")
        if self.diversity_weight < 0:
            raise ValueError(f"diversity_weight must be >= 0, not {self.diversity_weight!r}")
        if not isinstance(self.diversity_layers, int) or self.diversity_layers < 1:
            raise ValueError(f"diversity_layers must be an integer >= 1, not {self.diversity_layers!r}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, not {self.temperature!r}")
        if self.diversity_parts not in PARTS:
            raise ValueError(f"diversity_parts must be one of {', '.join(PARTS)}, not {self.diversity_parts!r}")


class AddAuxiliaryLoss(torch.autograd.Function):
    """Returns ``hidden`` unchanged; its backward also sends a gradient of 1
    into ``loss``, so whatever backpropagates from ``hidden`` minimises
    ``loss`` too."""

    @staticmethod
    def forward(ctx, hidden, loss):
        ctx.loss_shape = loss.shape
        return hidden.view_as(hidden)

    @staticmethod
    def backward(ctx, d_hidden):
        return d_hidden, torch.ones(ctx.loss_shape, dtype=d_hidden.dtype, device=d_hidden.device)


class PrefixedEncoder(torch.nn.Module):
    """``encoder`` with trainable prefix keys and values in every layer and
    the diversity loss on its output's backward in training."""

    def __init__(self, encoder: torch.nn.Module, settings: PrefixSettings):
        super().__init__()
        check_encoder(encoder, settings)
        config = encoder.config
        self.encoder = encoder
        self.settings = settings
        self.heads = config.num_attention_heads
        shape = (config.num_hidden_layers, settings.prefix_length, config.hidden_size)
        std = getattr(config, "initializer_range", 0.02)
        self.prefix_keys = torch.nn.Parameter(torch.randn(shape) * std)
        self.prefix_values = torch.nn.Parameter(torch.randn(shape) * std)
        # the last training batch's Loss_PAMDFGA (before alpha), for logs and tests
        self.last_diversity_loss: Optional[float] = None
        # off while another task reads other inputs through the encoder (diversity_switch.without_diversity_loss)
        self.diversity_on = True

    def prefix_cache(self, batch: int):
        """Per layer (keys, values), each (batch, heads, P, head width)."""
        layers, length, width = self.prefix_keys.shape

        def split(table: torch.Tensor) -> torch.Tensor:
            per_head = table.view(length, self.heads, width // self.heads).permute(1, 0, 2)
            return per_head.unsqueeze(0).expand(batch, -1, -1, -1)

        return tuple((split(self.prefix_keys[i]), split(self.prefix_values[i])) for i in range(layers))

    def positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The position ids the encoder gives the sentence without a prefix
        (it would count the prefix otherwise): 0, 1, ... for BERT; for
        RoBERTa and its kin, from padding_idx + 1, padding at padding_idx."""
        padding_idx = getattr(self.encoder.embeddings, "padding_idx", None)
        if padding_idx is not None:
            mask = input_ids.ne(padding_idx).int()
            return torch.cumsum(mask, dim=1) * mask + padding_idx
        batch, length = input_ids.shape
        return torch.arange(length, device=input_ids.device).unsqueeze(0).expand(batch, -1)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, **kwargs):
        batch, length = input_ids.shape
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        settings = self.settings
        diversity = self.training and settings.diversity_weight > 0 and self.diversity_on
        inputs = dict(input_ids=input_ids, token_type_ids=token_type_ids, output_attentions=diversity,
                      return_dict=True, **kwargs)
        if settings.prefix_length:
            positions = self.positions(input_ids)
            keys_mask = torch.cat([attention_mask.new_ones(batch, settings.prefix_length), attention_mask], dim=1)
            output = self.encoder(attention_mask=keys_mask, position_ids=positions,
                                  past_key_values=self.prefix_cache(batch), use_cache=False, **inputs)
        else:
            output = self.encoder(attention_mask=attention_mask, **inputs)
        hidden = output.last_hidden_state
        if diversity:
            loss = attention_diversity_loss(output.attentions[-settings.diversity_layers:], attention_mask,
                                            settings.prefix_length, settings.temperature, settings.diversity_parts)
            self.last_diversity_loss = float(loss.detach())
            hidden = AddAuxiliaryLoss.apply(hidden, settings.diversity_weight * loss)
        return BaseModelOutput(last_hidden_state=hidden)


def check_encoder(encoder: torch.nn.Module, settings: PrefixSettings) -> None:
    config = encoder.config
    takes = inspect.signature(encoder.forward).parameters
    if settings.prefix_length and not {"past_key_values", "position_ids"} <= set(takes):
        raise ValueError(f"prefix_length = {settings.prefix_length} needs an encoder whose forward takes "
                         f"past_key_values and position_ids (BERT, RoBERTa); {type(encoder).__name__} does not: "
                         "set prefix_length = 0")
    if config.hidden_size % config.num_attention_heads:
        raise ValueError(f"hidden size {config.hidden_size} does not split into {config.num_attention_heads} heads")
    if settings.diversity_weight and settings.diversity_layers > config.num_hidden_layers:
        raise ValueError(f"diversity_layers = {settings.diversity_layers}, but the encoder "
                         f"{getattr(config, '_name_or_path', '')!r} has {config.num_hidden_layers} layers")


def _torch_bytes(state: Dict[str, torch.Tensor]) -> bytes:
    buffer = BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


class PrefixHFShim(HFShim):
    """spacy-transformers' HFShim, saving and restoring the prefixes with the
    encoder (its own ``from_bytes`` rebuilds a plain encoder from the config)."""

    def __init__(self, model, settings: PrefixSettings, **kwargs):
        super().__init__(model, **kwargs)
        self.settings = settings
        if model.transformer is not None:
            self.wrap(model.transformer)

    def wrap(self, transformer: torch.nn.Module) -> None:
        weights = next(transformer.parameters())
        self._model = PrefixedEncoder(transformer, self.settings).to(device=weights.device, dtype=weights.dtype)

    def from_bytes(self, bytes_data):
        msg = srsly.msgpack_loads(bytes_data)
        prefixes = {}
        if msg["config"]:
            state = torch.load(BytesIO(msg["state"]), map_location="cpu")
            prefixes = {k: v for k, v in state.items() if not k.startswith(ENCODER)}
            encoder = {k[len(ENCODER):]: v for k, v in state.items() if k.startswith(ENCODER)}
            msg["state"] = _torch_bytes(encoder)
        super().from_bytes(srsly.msgpack_dumps(msg))
        if self._hfmodel.transformer is not None:
            self.wrap(self._hfmodel.transformer)
            missing = {"prefix_keys", "prefix_values"} - set(prefixes)
            if missing:
                raise ValueError(f"the saved transformer has no {', '.join(sorted(missing))}: it was not saved "
                                 "by bioner.PrefixTransformerModel.v1")
            for name, value in prefixes.items():
                param = getattr(self._model, name)
                if param.shape != value.shape:
                    raise ValueError(f"saved {name} has shape {tuple(value.shape)}, the config makes "
                                     f"{tuple(param.shape)} (prefix_length = {self.settings.prefix_length})")
                param.data.copy_(value.to(device=param.device, dtype=param.dtype))
        return self


def set_prefixed_transformer(model, hf_model) -> None:
    """spacy-transformers' ``set_transformer``, then the prefixes around it."""
    set_pytorch_transformer(model, hf_model)
    model.layers[0].shims[0].wrap(hf_model.transformer)


@registry.architectures("bioner.PrefixTransformerModel.v1")
def PrefixTransformerModel(
    name: str,
    get_spans: Callable,
    tokenizer_config: dict = {},
    transformer_config: dict = {},
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
    prefix_length: int = 11,
    diversity_weight: float = 0.01,
    diversity_layers: int = 4,
    temperature: float = 2.0,
    diversity_parts: str = "both",
):
    """spacy-transformers' TransformerModel.v3 with seed 002's prefixes and
    attention-diversity loss (defaults: the paper's P = 11, last 4 layers,
    tau = 2; alpha, which the paper grid-searches over 0.1 to 0.0001, 0.01)."""
    settings = PrefixSettings(prefix_length, diversity_weight, diversity_layers, temperature, diversity_parts)
    if mixed_precision and diversity_weight:
        # the grad scaler scales the NER head's gradient, not the one this loss adds on the way back
        raise ValueError("bioner.PrefixTransformerModel.v1: mixed_precision with diversity_weight > 0 is not "
                         "supported; set mixed_precision = false or diversity_weight = 0")
    model = TransformerModel(name, get_spans, tokenizer_config, transformer_config, mixed_precision,
                             dict(grad_scaler_config))
    wrapper = model.layers[0]
    plain = wrapper.shims[0]
    wrapper.shims[0] = PrefixHFShim(plain._hfmodel, settings, mixed_precision=mixed_precision,
                                    grad_scaler_config=dict(grad_scaler_config))
    model.attrs["set_transformer"] = set_prefixed_transformer
    return model
