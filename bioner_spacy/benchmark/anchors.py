"""Published test F1 of other systems on the shared corpora, as reported in
their papers: shown in their own, labelled rows, never as ours."""

CRICHTON_2017 = {"BC2GM": 73.17, "BC5CDR": 83.90, "NCBI-disease": 80.37, "linnaeus": 84.04, "JNLPBA": 70.09,
                 "BioNLP09": 84.20, "BioNLP11EPI": 78.86, "BioNLP11ID": 81.73, "BioNLP13CG": 78.90,
                 "BioNLP13PC": 81.92, "CRAFT": 79.56, "Ex-PTM": 74.90}
SCISPACY = {"BC5CDR": 84.28, "JNLPBA": 72.06, "BioNLP13CG": 77.84, "CRAFT": 78.01}
# seed 002 (Guan and Zhou 2023), E-BioBERT with PAMDFGA: fine-tuned BioBERT on a GPU (abstract, Table 2)
E_BIOBERT_2023 = {"BC2GM": 85.45, "BC5CDR-chem": 94.16, "BC5CDR-disease": 87.53, "NCBI-disease": 90.55}
# seed 003, BioBERT with the MRC auxiliary task (its Table 3)
MRC_2023 = {"BC2GM": 84.84, "BC5CDR-chem": 93.90, "NCBI-disease": 89.43}

CPU = ("Crichton et al. 2017, multi-task CNN (published)", "scispaCy en_ner_* (published)")
ANCHORS = {
    CPU[0]: CRICHTON_2017,
    CPU[1]: SCISPACY,
    "seed 002, E-BioBERT + PAMDFGA (BioBERT, GPU; published)": E_BIOBERT_2023,
    "seed 003, BioBERT + MRC (GPU; published)": MRC_2023,
}
# a group shows these unless its spec names others (`anchors:`)
DEFAULT_ANCHORS = CPU
