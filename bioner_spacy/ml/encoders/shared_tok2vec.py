"""An encoder that reads the syntax pipeline's own token vectors instead of
computing a second tok2vec from scratch (``bioner.SharedTok2Vec.v1``).

The assembled pipeline runs the syntax pipeline's ``tok2vec`` anyway, for
its tagger and parser. Here the NER listens to it (``spacy.Tok2VecListener.v1``,
the component kept frozen in training), concatenates each token's vector
with a small embedding of its own (e.g. a NORM hash and the domain vectors,
which the syntax model lacks), mixes the two with a maxout layer and runs
its encoder (a BiLSTM) over the result:

    h = encode(maxout([listener(doc) ; embed(doc)]))

At inference the NER then pays for the small embedding and its encoder
only; the syntax pipeline's CNN is computed once for all components.
"""
from typing import List

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Maxout, Model, chain, concatenate, with_array
from thinc.types import Floats2d


@registry.architectures("bioner.SharedTok2Vec.v1")
def shared_tok2vec(
    listener: Model[List[Doc], List[Floats2d]],
    embed: Model[List[Doc], List[Floats2d]],
    encode: Model[List[Floats2d], List[Floats2d]],
    width: int,
    maxout_pieces: int = 3,
) -> Model[List[Doc], List[Floats2d]]:
    """listener: the syntax tok2vec's listener (its ``upstream`` is that
    component's name); embed: the NER's own token features; encode: a
    width-preserving encoder of ``width`` (e.g. spacy.TorchBiLSTMEncoder.v1)."""
    model = chain(
        concatenate(listener, embed),
        with_array(Maxout(width, nP=maxout_pieces, normalize=True, dropout=0.0)),
        encode,
    )
    model.set_dim("nO", width)
    model.set_ref("listener", listener)
    model.name = "shared_tok2vec"
    return model
