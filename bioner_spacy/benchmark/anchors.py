"""Published test F1 of other systems on the shared corpora, as reported in
their papers: shown in their own, labelled rows, never as ours."""

CRICHTON_2017 = {"BC2GM": 73.17, "BC5CDR": 83.90, "NCBI-disease": 80.37, "linnaeus": 84.04, "JNLPBA": 70.09,
                 "BioNLP09": 84.20, "BioNLP11EPI": 78.86, "BioNLP11ID": 81.73, "BioNLP13CG": 78.90,
                 "BioNLP13PC": 81.92, "CRAFT": 79.56, "Ex-PTM": 74.90}
SCISPACY = {"BC5CDR": 84.28, "JNLPBA": 72.06, "BioNLP13CG": 77.84, "CRAFT": 78.01}

ANCHORS = {
    "Crichton et al. 2017, multi-task CNN (published)": CRICHTON_2017,
    "scispaCy en_ner_* (published)": SCISPACY,
}
