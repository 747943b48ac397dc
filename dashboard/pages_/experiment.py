"""One experiment (?experiment=<id>): description and tags, and its runs as the
Experiments tab shows them (each linked to its run page)."""

from __future__ import annotations

import streamlit as st

from axion_client import AxionAPIError
from dashboard.api import Registry, guarded
from dashboard.pages_ import common
from dashboard.tabs import experiments as tab


def render(api: Registry, experiment_id: str) -> None:
    common.back_home()
    if not experiment_id.isdigit():
        st.error(f"An experiment is named by its number: ?experiment=3, not {experiment_id!r}.")
        return
    try:
        experiment = api.experiment(int(experiment_id))
    except AxionAPIError as exc:
        if exc.status != 404:
            raise
        st.error(f"No experiment #{experiment_id}.")
        return
    st.header(f"Experiment {experiment['name']}")
    st.caption(f"#{experiment['id']} · {experiment.get('run_count', 0)} runs · created "
               f"{(experiment.get('created_at') or '')[:19]}"
               + (" · archived" if experiment.get("archived") else ""))
    if experiment.get("description"):
        st.markdown(experiment["description"])
    tab.render_experiment(api, experiment["id"])
    st.subheader("Description and tags")
    with guarded(api):
        common.edit_form(f"experiment_edit_{experiment['id']}",
                         experiment.get("description") or "", experiment.get("tags") or {},
                         lambda text, tags: _save(api, experiment["id"], text, tags))


def _save(api: Registry, experiment_id: int, description: str, tags: dict[str, str]) -> None:
    try:
        api.update_experiment(experiment_id, description=description, tags=tags)
    except AxionAPIError as exc:
        st.error(f"Not saved ({exc.status}): {exc.message}")
        return
    st.rerun()
