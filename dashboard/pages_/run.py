"""One run (?run=<run_id>): its experiment, parent and children, the versions registered
from it, params, latest metrics and their curves, artifacts with downloads, description and
tags, and "register this run's model" when its artifacts hold a model file."""

from __future__ import annotations

import functools

import streamlit as st

from axion_client import AxionAPIError
from dashboard import links
from dashboard.api import Registry, guarded
from dashboard.pages_ import common
from dashboard.tabs import experiments as tab
from models_app.vocabulary import Bump, Framework, format_from_name

NOTE_TAG = "mlflow.note.content"  # a run's description, as MLflow keeps it
MAX_LISTED = 20  # more artifact files than this are shown one folder at a time


def render(api: Registry, run_id: str) -> None:
    common.back_home()
    try:
        run = api.run(run_id)
    except AxionAPIError as exc:
        if exc.status not in (400, 404):
            raise
        st.error(f"No run {run_id!r}: {exc.message}")
        return
    st.header(f"Run {run.get('name') or run_id[:8]}")
    st.caption(f"{run['status']} · started {(run.get('start_time') or '')[:19]} by "
               f"{run.get('user') or 'nobody'} · run id {run_id}")
    _lineage(run)
    tags = dict(run.get("tags") or {})
    description = tags.pop(NOTE_TAG, "")
    if description:
        st.markdown(description)
    left, right = st.columns(2)
    with left:
        st.subheader("Params")
        common.key_values(run.get("params") or {}, "param")
    with right:
        st.subheader("Latest metrics")
        common.key_values(run.get("metrics") or {}, "metric")
    with guarded(api):
        _curves(api, run)
    with guarded(api):
        files = _artifacts(api, run_id)
        _register(api, run, files)
    st.subheader("Description and tags")
    with guarded(api):
        common.edit_form(f"run_edit_{run_id}", description, tags,
                         lambda text, wanted: _save(api, run_id, tags, text, wanted))


def _lineage(run: dict) -> None:
    common.link_line([(f"experiment {run.get('experiment') or run['experiment_id']}",
                       links.experiment_url(run["experiment_id"]))], "In ")
    if run.get("parent_run_id"):
        common.link_line([("parent run", links.run_url(run["parent_run_id"]))], "Child of ")
    children = run.get("child_run_ids") or []
    common.link_line([(c[:8], links.run_url(c)) for c in children], "Child runs: ")
    produced = run.get("produced_versions") or []
    if produced:
        common.link_line([(f"{v['model']} {v['version']} ({v['stage']})",
                           links.version_url(v["model"], v["version"])) for v in produced],
                         "Registered as ")
    else:
        st.caption("No model version was registered from this run.")


def _curves(api: Registry, run: dict) -> None:
    keys = sorted(run.get("metrics") or {})
    if not keys:
        return
    st.subheader("Metric curves")
    default = [k for k in keys if "loss" in k] or keys[:1]
    chosen = st.multiselect("Metrics (on one chart)", keys, default=default,
                            key=f"run_metrics_{run['run_id']}")
    if chosen:
        series = {k: api.metric_histories([run["run_id"]], k, max_points=tab.CURVE_POINTS)
                  for k in chosen}
        tab.metric_chart(series, {run["run_id"]: run.get("name") or run["run_id"][:8]})


def _artifacts(api: Registry, run_id: str) -> list[dict]:
    st.subheader("Artifacts")
    files = api.run_artifacts(run_id)
    if not files:
        st.caption("No artifacts logged.")
        return []
    inside = files
    if len(files) > MAX_LISTED:  # then one folder at a time
        folders = sorted({_folder(f["path"]) for f in files})
        folder = st.selectbox("Folder", folders, format_func=lambda f: f or "(top level)",
                              key=f"run_folder_{run_id}")
        inside = [f for f in files if _folder(f["path"]) == folder]
    for row in inside:
        cols = st.columns([4, 1, 1])
        cols[0].code(row["path"], language=None)
        cols[1].caption(common.size(row.get("size")))
        with cols[2]:
            common.download("Download", functools.partial(api.open_run_artifact, run_id,
                                                          row["path"]),
                            row["path"].rsplit("/", 1)[-1], key=f"dl_{run_id}_{row['path']}")
    return files


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _register(api: Registry, run: dict, files: list[dict]) -> None:
    models = [f["path"] for f in files if format_from_name(f["path"])]
    if not models:
        return
    st.subheader("Register this run's model")
    with st.form(f"run_register_{run['run_id']}"):
        cols = st.columns(4)
        path = cols[0].selectbox("Model file", models)
        model = cols[1].text_input("Registered model name",
                                   value=(run.get("tags") or {}).get("model", ""))
        framework = cols[2].selectbox("Framework", Framework.values)
        bump = cols[3].selectbox("Version bump", Bump.values, index=Bump.values.index("minor"))
        submitted = st.form_submit_button("Register version")
    if not submitted:
        return
    if not model.strip():
        st.error("Name the registered model the version belongs to.")
        return
    try:
        version = api.register_from_run(run["run_id"], model.strip(), path,
                                        framework=framework,
                                        artifact_format=format_from_name(path), bump=bump)
    except AxionAPIError as exc:
        st.error(f"Not registered ({exc.status} {exc.code}): {exc.message}")
        return
    st.success(f"Registered {version['model']} {version['version']}.")
    common.link_line([(f"Open {version['model']} {version['version']}",
                       links.version_url(version["model"], version["version"]))])


def _save(api: Registry, run_id: str, old: dict[str, str], description: str,
          wanted: dict[str, str]) -> None:
    try:
        for key in sorted(set(old) - set(wanted)):
            api.delete_run_tag(run_id, key)
        changed = {k: v for k, v in wanted.items() if old.get(k) != v}
        if description.strip() or NOTE_TAG in (api.run(run_id).get("tags") or {}):
            changed[NOTE_TAG] = description
        if changed:
            api.set_run_tags(run_id, changed)
    except AxionAPIError as exc:
        st.error(f"Not saved ({exc.status}): {exc.message}")
        return
    st.success("Saved.")
    st.rerun()
