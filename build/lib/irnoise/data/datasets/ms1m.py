"""MS-Celeb-1M / MS1MV2 face identities: a folder per identity, or insightface's RecordIO.

options.format chooses: "recordio" reads `<root>/train.rec` + `<root>/train.idx` (see
`irnoise.data.datasets.recordio`; keys are record indices, labels the records' class ids);
"folder" reads `<root>/<identity>/<image>` (keys are relative paths, labels the folder
names). Without the option, "recordio" when `<root>/train.rec` exists, else "folder".
Everything is the train split: the faces are evaluated on LFW.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irnoise.data.datasets import recordio
from irnoise.data.datasets.base import DatasetIndex, Record
from irnoise.data.datasets.folder import class_folder_records
from irnoise.errors import UserError

FORMATS = ("folder", "recordio")
REC, IDX = "train.rec", "train.idx"

LAYOUT = """\
options.format "recordio" (the default when <root>/train.rec exists), insightface's MS1MV2:
  <root>/train.rec   MXNet RecordIO; record 0 is the header record
  <root>/train.idx   one line `index<TAB>offset` per record
options.format "folder":
  <root>/<identity>/<image>   one folder per identity, e.g. <root>/m.0abc12/0001.jpg"""


def data_format(root: Path, options: dict[str, Any]) -> str:
    chosen = options.get("format") or ("recordio" if (root / REC).exists() else "folder")
    if chosen not in FORMATS:
        raise UserError(f"ms1m options.format is {chosen!r}; expected one of {', '.join(FORMATS)}")
    return chosen


def required_files(root: Path, options: dict[str, Any]) -> list[Path]:
    return [root / REC, root / IDX] if data_format(root, options) == "recordio" else []


def recordio_records(root: Path) -> list[Record]:
    """One record per image record of train.rec, keyed by record index."""
    rec_path = root / REC
    return [
        Record(key=str(index), path=rec_path, label=str(label), offset=offset)
        for index, offset, label in recordio.image_labels(rec_path, root / IDX)
    ]


def load(root: Path, options: dict[str, Any]) -> DatasetIndex:
    if data_format(root, options) == "recordio":
        # Keys are unique already: read_index refuses an index listed twice.
        records = recordio_records(root)
    else:
        records = class_folder_records(root, root, what="identity")
    return DatasetIndex(source="ms1m", root=root, splits={"train": records})
