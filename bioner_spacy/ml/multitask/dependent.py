"""Seed 004's dependent multi-task model (D-MTM, Crichton et al. 2017): a
model trained first for an auxiliary task (part-of-speech tagging on
GENIA-pos) lends its fully connected layer to the main task's model, whose
own fully connected layer it is concatenated with before the output:

    h_i = [h_i^NER ; h_i^POS]          h^POS from the trained POS model, kept frozen

``bioner.DependentTok2Vec.v1`` is that concatenation as a tok2vec: ``main``
is the NER's own encoder (``bioner.WindowCNN.v1``), ``auxiliary`` the same
architecture as the POS tagger's tok2vec. At initialisation the auxiliary
copy reads its weights from the trained tagger (``source``, a spaCy pipeline
folder or package, its component ``component``); it is never updated, and
the trained NER pipeline saves it with its own weights (``source`` is not
read again when loading). Both read the vocab's static vectors: train the
tagger with the same vectors as the NER (the configs share paths.vectors).
"""
from typing import List

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model, concatenate
from thinc.types import Floats2d


@registry.architectures("bioner.DependentTok2Vec.v1")
def dependent_tok2vec(main: Model[List[Doc], List[Floats2d]], auxiliary: Model[List[Doc], List[Floats2d]],
                      source: str, component: str = "tagger") -> Model[List[Doc], List[Floats2d]]:
    """main: the NER's own encoder; auxiliary: the auxiliary model's
    encoder architecture, loaded from pipeline ``source`` (its ``component``'s
    ``tok2vec``) and frozen."""
    frozen = Model("frozen_auxiliary", frozen_forward, init=frozen_init, layers=[auxiliary],
                   dims={"nO": auxiliary.get_dim("nO") if auxiliary.has_dim("nO") else None},
                   attrs={"source": str(source), "component": component})
    model = concatenate(main, frozen)
    if main.has_dim("nO") and frozen.has_dim("nO"):
        model.set_dim("nO", main.get_dim("nO") + frozen.get_dim("nO"))
    return model


def frozen_init(model: Model, X=None, Y=None) -> Model:
    """Copy the trained auxiliary encoder's weights into this one."""
    import spacy

    source, component = model.attrs["source"], model.attrs["component"]
    try:
        trained = spacy.load(source).get_pipe(component).model
    except (OSError, KeyError) as err:
        raise ValueError(f"bioner.DependentTok2Vec.v1: cannot read the auxiliary model from {source!r} "
                         f"(component {component!r}): {err}. Train it first (`spacy project run pos-tagger`).") from None
    if not trained.has_ref("tok2vec"):
        raise ValueError(f"bioner.DependentTok2Vec.v1: component {component!r} of {source!r} has no tok2vec")
    auxiliary = model.layers[0]
    auxiliary.from_bytes(trained.get_ref("tok2vec").to_bytes())
    model.set_dim("nO", auxiliary.get_dim("nO"), force=True)
    return model


def frozen_forward(model: Model, docs: List[Doc], is_train: bool):
    """The auxiliary encoder's output, without dropout and without gradient."""
    return model.layers[0].predict(docs), lambda d_out: []
