"""One version (?model=<name>&version=<semver>, or version=#<sequence>): stage, the run it
was registered from, metrics, hyperparameters, the load check, the signature and input
example as tables, the artifact download, the A/B tests it is in, description and tags."""

from __future__ import annotations

import streamlit as st

from axion_client import AxionAPIError
from dashboard import links, tables
from dashboard.api import Registry, guarded
from dashboard.pages_ import common


def resolve(api: Registry, model: str, version: str) -> str | None:
    """The semver a page's version parameter names: a semver, or #<n> / <n> for the n-th
    version registered."""
    number = version.removeprefix("#")
    if number.isdigit():
        found = api.version_by_sequence(model, int(number))
        return found["version"] if found else None
    return version


def render(api: Registry, model: str, version: str) -> None:
    common.back_home()
    try:
        semver = resolve(api, model, version)
        row = api.version(model, semver) if semver else None
    except AxionAPIError as exc:
        if exc.status not in (400, 404):
            raise
        row = None
    if row is None:
        st.error(f"No version {version!r} of model {model!r}. Use ?model=<name>&version="
                 "<semver>, e.g. ?model=ranking&version=1.0.0.")
        return
    semver = row["version"]
    st.header(f"{model} {semver}")
    st.caption(f"{row['stage']} · {row['framework']} · {row['artifact_format']} · "
               f"registered {(row.get('created_at') or '')[:19]} by "
               f"{row.get('created_by') or 'nobody'} · load check "
               f"{row.get('load_check_status') or 'n/a'}")
    if row.get("source_run_id"):
        common.link_line([("source run", links.run_url(row["source_run_id"]))],
                         "Registered from the ")
    else:
        st.caption("Uploaded directly, not registered from a run.")
    with guarded(api):
        _abtests(api, model, semver)
    if row.get("description"):
        st.markdown(row["description"])
    left, right = st.columns(2)
    with left:
        st.subheader("Metrics")
        common.key_values(row.get("metrics") or {}, "metric")
        if row.get("verified_metrics"):
            st.markdown("**Verified by the load check**")
            common.key_values(row["verified_metrics"], "metric")
    with right:
        st.subheader("Hyperparameters")
        common.key_values(row.get("hyperparameters") or {}, "hyperparameter")
    _schema(row)
    st.subheader("Artifact")
    st.code(f"{row.get('artifact_path')}\nsha256 {row.get('artifact_sha256')}", language=None)
    cols = st.columns([1, 5])
    cols[1].caption(common.size(row.get("artifact_size")))
    with cols[0]:
        common.download("Download", lambda: api.open_version_artifact(model, semver),
                        (row.get("artifact_path") or "model").rsplit("/", 1)[-1],
                        key=f"dl_{model}_{semver}")
    st.subheader("Description and tags")
    common.edit_form(f"version_edit_{model}_{semver}", row.get("description") or "",
                     row.get("tags") or {},
                     lambda text, tags: _save(api, model, semver, text, tags))


def _schema(row: dict) -> None:
    left, right = st.columns(2)
    with left:
        st.subheader("Signature")
        frame = common.signature_frame(row.get("signature"))
        if frame.empty:
            st.caption("No signature recorded.")
        else:
            tables.show(frame, hide_index=True, width="stretch")
    with right:
        st.subheader("Input example")
        frame = common.example_frame(row.get("input_example"))
        if frame.empty:
            st.caption("No input example recorded.")
        else:
            tables.show(frame, hide_index=True, width="stretch")


def _abtests(api: Registry, model: str, semver: str) -> None:
    tests = [t for t in api.abtests() if t.get("model") == model
             and semver in (t.get("champion"), t.get("challenger"))]
    common.link_line([(f"#{t['id']} {t['name']} ({t['state']})", links.abtest_url(t["id"]))
                      for t in tests], "A/B tests: ")


def _save(api: Registry, model: str, semver: str, description: str,
          tags: dict[str, str]) -> None:
    try:
        api.update_version(model, semver, description=description, tags=tags)
    except AxionAPIError as exc:
        st.error(f"Not saved ({exc.status}): {exc.message}")
        return
    st.rerun()
