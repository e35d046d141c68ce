"""The fix page's hand edits (remove rows, set a label per row) and manifests loaded back: the
engine writes every table and manifest (:mod:`tda_core._fix`); this module only collects the
user's edits and offers the downloads."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from tda_core import TDAError, hand_edited_training_set, read_manifest, replay_manifest

from . import exports, loaders, state, tables

MODES = {"action": "The chosen action", "hand": "Hand edits", "manifest": "Load a manifest"}
HAND_INDICES = "hand_indices"  # training indices listed in the hand-edit table
HAND_EDITS = "hand_edits"  # {training index: {"remove": bool, "new label": str | None}}
MANIFEST_FILE = "manifest_file"
REMOVE, NEW_LABEL = "remove", "new label"
TYPED = "hand_typed"  # the text box of exact training numbers to add


def parse_numbers(text: str, n: int) -> tuple[list[int], list[str]]:
    """'557, 12-15' -> [557, 12, 13, 14, 15]: exact training numbers (train #), and the parts that are not."""
    found, bad = [], []
    for part in text.replace(";", ",").replace(" ", ",").split(","):
        part = part.strip().removeprefix("#")
        if not part:
            continue
        low, _, high = part.partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            rng = range(int(low), int(high or low) + 1)
            if len(rng) <= 10_000 and all(0 <= i < n for i in (rng.start, rng.stop - 1)):
                found += list(rng)
                continue
        bad.append(part)
    return found, bad


def add_typed(n: int) -> None:
    found, bad = parse_numbers(st.session_state.get(TYPED, ""), n)
    st.session_state[HAND_INDICES] = sorted(set(st.session_state.get(HAND_INDICES, [])) | set(found))
    st.session_state[TYPED] = ", ".join(bad)  # what could not be read stays, to be corrected


def hand_frame(data: Any, indices: list[int], edits: dict[int, dict[str, Any]]) -> pd.DataFrame:
    """One row per listed training sample: who it is, its label, and the user's edit."""
    ids = [data.train_ids[i].item() if hasattr(data.train_ids[i], "item") else data.train_ids[i] for i in indices]
    return pd.DataFrame({
        "train #": indices,
        "row" if data.kind == "tabular" else "file": [str(x) for x in ids],
        "label": [str(data.classes[data.y_train[i]]) for i in indices],
        REMOVE: [bool(edits.get(i, {}).get(REMOVE, False)) for i in indices],
        NEW_LABEL: pd.Series([edits.get(i, {}).get(NEW_LABEL) for i in indices], dtype=object),
    })


def chosen_edits(edits: dict[int, dict[str, Any]], indices: list[int]) -> tuple[list[int], dict[int, str]]:
    """The rows to remove and the labels to set, among the listed rows."""
    remove = [i for i in indices if edits.get(i, {}).get(REMOVE)]
    labels = {i: str(edits[i][NEW_LABEL]) for i in indices if edits.get(i, {}).get(NEW_LABEL)}
    return remove, labels


def downloads(data: Any, table: pd.DataFrame, manifest: dict[str, Any], suffix: str) -> None:
    stem = exports.stem(data.name)
    with st.container(horizontal=True, gap="small"):
        st.download_button("Corrected training set (CSV)", table.to_csv(index=False).encode(), file_name=f"{stem}-{suffix}.csv",
                           mime="text/csv", icon=":material/download:", key=f"{suffix}_csv")
        st.download_button("Manifest (JSON)", json.dumps(manifest, indent=2).encode(), file_name=f"{stem}-{suffix}-manifest.json",
                           mime="application/json", icon=":material/download:", key=f"{suffix}_manifest")
    st.markdown("**Changes**")
    st.dataframe(pd.DataFrame(manifest["changes"]), hide_index=True, width="stretch")


def hand_edits(data: Any, result: Any) -> tuple[list[int], dict[int, str]] | None:
    """Remove rows and set labels by hand, then export the training set and its manifest; the
    edits exported (rows removed, labels set), or None where there is nothing to export yet."""
    st.caption("Edit single training rows by hand: tick **remove**, or choose a **new label**. Nothing is retrained "
               "here: the export is the training set with exactly these changes, and its manifest lists them.")
    if HAND_INDICES not in st.session_state:  # seeded once from the fix list or the attribution page's selection
        seed = list(state.fix().indices) or (list(result.selected) if result is not None else [])
        st.session_state[HAND_INDICES] = [int(i) for i in seed if 0 <= int(i) < data.n_train]
    with st.container(horizontal=True, gap="medium", vertical_alignment="bottom"):
        st.multiselect("Training samples to edit (add any training row)", list(range(data.n_train)), key=HAND_INDICES,
                       persist_state="session", width="stretch",
                       format_func=lambda i: tables.train_label(data, i))
        st.text_input("Add by train # (exact)", key=TYPED, placeholder="e.g. 557, 12-15", width=220,
                      on_change=add_typed, args=(data.n_train,),
                      help="Training numbers as the tables give them (train #), exactly: 557 adds train #557 only.")
    if st.session_state.get(TYPED):
        st.caption(f"Not training numbers of 0..{data.n_train - 1}: {st.session_state[TYPED]}")
    indices = sorted({int(i) for i in st.session_state[HAND_INDICES] if 0 <= int(i) < data.n_train})
    edits: dict[int, dict[str, Any]] = st.session_state.setdefault(HAND_EDITS, {})
    if not indices:
        st.info("Add the training samples to edit, or pick them on the attribution page.")
        return None
    frame = hand_frame(data, indices, edits)
    edited = st.data_editor(
        frame, hide_index=True, width="stretch", key=f"hand_editor_{hash(tuple(indices))}",
        disabled=[c for c in frame.columns if c not in (REMOVE, NEW_LABEL)],
        column_config={
            REMOVE: st.column_config.CheckboxColumn(REMOVE, help="Drop this row from the training set"),
            NEW_LABEL: st.column_config.SelectboxColumn(NEW_LABEL, options=[str(c) for c in data.classes],
                                                        help="The label to write on this row (empty: keep its label)"),
        },
    )
    for i, remove, label in zip(edited["train #"], edited[REMOVE], edited[NEW_LABEL]):
        edits[int(i)] = {REMOVE: bool(remove), NEW_LABEL: label if isinstance(label, str) and label else None}
    remove, labels = chosen_edits(edits, indices)
    if not remove and not labels:
        st.info("Tick remove or choose a new label on at least one row.")
        return None
    st.text_input("Reason (recorded in the manifest)", key=state.REASON, persist_state="session",
                  placeholder="e.g. what you checked in these samples before editing them")
    try:
        table, manifest = hand_edited_training_set(data, remove=remove, labels=labels, reason=state.fix().reason,
                                                   column_order=loaders.export_columns(data))
    except TDAError as exc:
        st.error(str(exc))
        return None
    st.subheader("Export")
    st.caption(f"{manifest['n_train_before']:,} training rows before, {manifest['n_train_after']:,} after "
               f"({tables.count(len(remove), 'row')} removed, {tables.count(sum(1 for c in manifest['changes'] if 'new_label' in c), 'label')} set).")
    downloads(data, table, manifest, "hand-fixed")
    return remove, labels


def load_manifest(data: Any) -> None:
    """A manifest exported before (from this page or ``apply``), replayed on the current data."""
    st.caption("Upload a manifest exported from this page or from `python -m tda_core apply`: its changes are "
               "replayed on the current data as recorded (nothing is retrained), and the training set is written again, "
               "byte for byte as it was exported.")
    upload = st.file_uploader("Manifest (JSON)", type=["json"], key=MANIFEST_FILE)
    if upload is None:
        return
    try:
        table, manifest = replay_manifest(data, read_manifest(upload.getvalue()), column_order=loaders.export_columns(data))
    except TDAError as exc:
        st.error(f"{upload.name}: {exc}")
        return
    what = str(manifest["action"])
    st.markdown(f"**{what}** on {tables.count(len(manifest['changes']), 'training row')}: "
                f"{manifest['n_train_before']:,} rows before, {manifest['n_train_after']:,} after"
                + (f". Reason: {manifest['reason']}" if manifest.get("reason") else "."))
    downloads(data, table, manifest, "replayed")
