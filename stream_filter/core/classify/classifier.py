"""The classifier as one value: its lexicon and taxonomy files, its model, and the version it gives.

Why a version: a decision names the classifier that read the listing (model version and a digest of
the lexicon and taxonomy files), so a seller notice or an audit can say which rules decided, and a
worker that starts with another classifier knows which stored decisions it would read otherwise: it
decides those listings again in its paced re-evaluation pass, as it does for a new policy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from stream_filter.core.classify.clusters import classify_clusters
from stream_filter.core.classify.lexicon import DATA_FILES, Lexicon, load_lexicon
from stream_filter.core.classify.model import Model, load_model
from stream_filter.core.classify.origin import classify_origin
from stream_filter.core.contracts.decision import ClusterMatch, Origin
from stream_filter.core.contracts.listing import ListingEvent

NO_MODEL = "no-model"


@dataclass(frozen=True)
class Classifier:
    lexicon: Lexicon
    model: Model | None
    version: str  # "<model version>+<12 hex of the data files' digest>"

    def read(self, event: ListingEvent) -> tuple[Origin, list[ClusterMatch]]:
        """The listing's origin and product clusters."""
        return classify_origin(event), classify_clusters(event, self.lexicon, self.model)


def data_digest(directory: Path | None = None) -> str:
    """sha256 of the lexicon and taxonomy files, each named, in a fixed order: the same files give the
    same digest on every machine (line endings are the files' own: the package ships them as written)."""
    base = directory or resources.files("stream_filter.core.classify") / "data"
    h = hashlib.sha256()
    for name in DATA_FILES:
        h.update(name.encode() + b"\0" + (base / name).read_bytes() + b"\0")
    return h.hexdigest()


def classifier_version(model: Model | None, digest: str) -> str:
    return f"{model.version if model is not None else NO_MODEL}+{digest[:12]}"


def load_classifier(model: str = "shipped", lexicon_dir: Path | None = None) -> Classifier:
    """A model by name (`shipped`, `none`, or a file) with the packaged data files or `lexicon_dir`'s."""
    if lexicon_dir is None:
        return _packaged(model)
    learned = load_model(model)
    return Classifier(load_lexicon(lexicon_dir), learned, classifier_version(learned, data_digest(lexicon_dir)))


@cache
def _packaged(model: str) -> Classifier:
    from stream_filter.core.classify.lexicon import default_lexicon

    learned = load_model(model)
    return Classifier(default_lexicon(), learned, classifier_version(learned, data_digest()))


def default_classifier() -> Classifier:
    """The configured model (`model.use_model`, set from STREAM_FILTER_CLUSTER_MODEL) with the packaged data."""
    from stream_filter.core.classify.model import configured_model

    return _packaged(configured_model())
