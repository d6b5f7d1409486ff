"""The model files the pipeline keeps under the warehouse root, and their formats.

- `models/gcn/model.pt`: the trained GCN, `torch.save` of its state dict and its GCNConfig
  fields; `models/gcn/checkpoint.pt`: its training checkpoint, kept (on a local warehouse
  only) while a training run is unfinished.
- `models/feature_mlp/arrays.npz` and `spec.json`: the cold-start model, its arrays in the
  published encoding (algorhythms_store.coldstart.pack_arrays, so they are published as they
  are) and its JSON spec.
- `models/ranker/model.txt`: the playlist ranker, LightGBM's text model.
- `models/ranker/ablation.json`: the rankers trained without one part each (label -> text
  model; `{}` when the ranker was trained without them).
- `reports/recommendation_eval.csv`: the evaluation's metrics per recommender and category.
- `reports/ablation.csv`: the same for the rankers without one part each, when trained.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from algorhythms_ml.warehouse import Warehouse, read_bytes, write_bytes
from algorhythms_store.coldstart import pack_arrays
from algorhythms_store.ranking import Ranker

if TYPE_CHECKING:  # artefacts sit below the training code that imports them
    from algorhythms_ml.embeddings.train import GCNConfig

GCN_MODEL = "models/gcn/model.pt"
GCN_CHECKPOINT = "models/gcn/checkpoint.pt"
COLDSTART_DIR = "models/feature_mlp"
COLDSTART_ARRAYS = f"{COLDSTART_DIR}/arrays.npz"
COLDSTART_SPEC = f"{COLDSTART_DIR}/spec.json"
RANKER_MODEL = "models/ranker/model.txt"
RANKER_ABLATION = "models/ranker/ablation.json"
RANKER_VECTORS = "models/ranker/vectors.npy"
EVAL_REPORT = "reports/recommendation_eval.csv"
ABLATION_REPORT = "reports/ablation.csv"


def _uri(warehouse: Warehouse, path: str) -> str:
    return f"{warehouse.root}/{path}"


def write_gcn_model(warehouse: Warehouse, model: torch.nn.Module, config: GCNConfig) -> None:
    buffer = io.BytesIO()
    torch.save({"state_dict": model.state_dict(), "config": dataclasses.asdict(config)}, buffer)
    write_bytes(_uri(warehouse, GCN_MODEL), buffer.getvalue())


def gcn_checkpoint(warehouse: Warehouse) -> Path | None:
    """Where GCN training keeps its checkpoint; None unless the warehouse is on local disk
    (training writes it with torch.save to a path)."""
    if not warehouse.root.startswith("file:"):
        return None
    return warehouse.local_path(GCN_CHECKPOINT)


def write_coldstart(warehouse: Warehouse, arrays: dict[str, np.ndarray], spec: dict) -> None:
    write_bytes(_uri(warehouse, COLDSTART_ARRAYS), pack_arrays(arrays))
    write_bytes(_uri(warehouse, COLDSTART_SPEC), json.dumps(spec, indent=2).encode())


def read_coldstart(warehouse: Warehouse) -> tuple[bytes, dict]:
    """The cold-start model as it is published: its packed arrays and its spec."""
    spec = json.loads(read_bytes(_uri(warehouse, COLDSTART_SPEC)))
    return read_bytes(_uri(warehouse, COLDSTART_ARRAYS)), spec


def write_ranker(
    warehouse: Warehouse,
    ranker: Ranker,
    ablation: dict[str, Ranker] | None = None,
    vectors: np.ndarray | None = None,
) -> str:
    """Write the ranker's text model, its ablation rankers (none: an empty set, so an earlier
    run's are not read with this ranker) and the song vectors its evaluation reads (those of a
    GCN that never saw the evaluation hold-out; none: an empty array); the model's URI."""
    uri = _uri(warehouse, RANKER_MODEL)
    write_bytes(uri, ranker.text.encode())
    texts = {label: r.text for label, r in (ablation or {}).items()}
    write_bytes(_uri(warehouse, RANKER_ABLATION), json.dumps(texts).encode())
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((0, 0), np.float32) if vectors is None else vectors)
    write_bytes(_uri(warehouse, RANKER_VECTORS), buffer.getvalue())
    return uri


def read_ranker_vectors(warehouse: Warehouse) -> np.ndarray | None:
    """The song vectors written with the ranker for its evaluation (None when there are none)."""
    try:
        vectors = np.load(io.BytesIO(read_bytes(_uri(warehouse, RANKER_VECTORS))))
    except FileNotFoundError:
        return None
    return vectors if vectors.size else None


def read_ranker(warehouse: Warehouse) -> Ranker:
    return Ranker(read_bytes(_uri(warehouse, RANKER_MODEL)).decode())


def read_ablation(warehouse: Warehouse) -> dict[str, Ranker]:
    """The ablation rankers written with the ranker ({} when there are none)."""
    try:
        texts = json.loads(read_bytes(_uri(warehouse, RANKER_ABLATION)))
    except FileNotFoundError:
        return {}
    return {label: Ranker(text) for label, text in texts.items()}


def write_eval_report(warehouse: Warehouse, table: pd.DataFrame, path: str = EVAL_REPORT) -> str:
    """Write an evaluation's metric table as CSV; its URI."""
    uri = _uri(warehouse, path)
    write_bytes(uri, table.to_csv(index=False).encode())
    return uri
