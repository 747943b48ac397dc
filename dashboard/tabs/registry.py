"""Model Registry: models and versions with stage badges, filters, comparison, history,
and promote / rollback for users the API allows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from axion_client import APIUnreachable, AxionAPIError
from dashboard import charts, links, tables
from dashboard.api import Registry, describe_error, guarded, version_gates
from dashboard.tabs import load_check
from models_app.vocabulary import Framework, Stage

Change = Callable[[], dict[str, Any]]  # a write through the API; its answer

STAGES: list[str] = [Stage.PRODUCTION, Stage.STAGING, Stage.DRAFT, Stage.ARCHIVED, Stage.DEPRECATED]
FRAMEWORKS: list[str] = list(Framework)


def render(api: Registry) -> None:
    models = api.models()
    if not models:
        st.subheader("Models")
        st.info("No model is registered yet. Register one through the API "
                "(POST /api/v1/models/) or run `manage.py seed_demo`.")
        return
    names = [m["name"] for m in models]
    pick, about = st.columns([2, 5])
    model = pick.selectbox("Model", names, key="reg_model")
    row = next(m for m in models if m["name"] == model)
    about.markdown(f"**{model}**: {row.get('description') or 'no description'}  \n"
                   f"in production: **{row.get('production_version') or 'none'}** · latest: "
                   f"{row.get('latest_version') or 'none'} · owner: {row.get('owner') or '—'}")
    versions = api.model_versions(model)
    st.markdown(" ".join(
        f"[:{charts.STAGE_COLORS.get(v['stage'], 'gray')}-badge[{v['version']} · {v['stage']}]]"
        f"({links.version_url(model, v['version'])})"
        for v in sorted(versions, key=lambda v: v["created_at"])
    ) or "No versions yet.")
    if versions:
        tables.show(charts.style_stages(charts.versions_frame(versions)), hide_index=True,
                     width="stretch")
    for section in (_actions, _comparison, _history, _load_checks, _aliases,
                    _promotion_requests):
        with guarded(api):
            section(api, model, versions)
    st.divider()
    with st.expander("Search versions of every model"), guarded(api):
        _version_search(api)


def _aliases(api: Registry, model: str, versions: list[dict]) -> None:
    st.subheader("Aliases")
    rows = api.aliases(model)
    if not rows:
        st.caption(f"No alias yet. Serving answers {model}@<alias> once one is set (release "
                   "managers set them: PUT /api/v1/models/<name>/aliases/<alias>/).")
        return
    by_version: dict[str, list[str]] = {}
    for row in rows:
        by_version.setdefault(row["version"], []).append(f"@{row['alias']}")
    st.markdown(" ".join(
        f":{charts.STAGE_COLORS.get(v['stage'], 'gray')}-badge[{v['version']} · "
        f"{' '.join(by_version[v['version']])}]"
        for v in sorted(versions, key=lambda v: v["created_at"]) if v["version"] in by_version
    ))
    tables.show(pd.DataFrame([{
        "alias": r["alias"], "version": r["version"], "number": r["sequence"],
        "stage": r["stage"], "set by": r.get("set_by") or "",
        "set at": r["set_at"][:19].replace("T", " "),
    } for r in rows]), hide_index=True, width="stretch")


def _version_search(api: Registry) -> None:
    cols = st.columns([2, 2, 2, 2, 2])
    name = cols[0].text_input("Model name contains", key="reg_search")
    stages = cols[1].multiselect("Stage", STAGES, key="reg_stages")
    frameworks = cols[2].multiselect("Framework", FRAMEWORKS, key="reg_frameworks")
    tag = cols[3].text_input("Tag (key or key:value)", key="reg_tag")
    metric = cols[4].text_input("Metric condition (e.g. auc>=0.7)", key="reg_metric")
    try:
        found = api.versions(name=name, stages=stages, frameworks=frameworks,
                             tags=[tag] if tag else [], metrics=[metric] if metric else [])
    except AxionAPIError as exc:
        if exc.status != 400:
            raise
        st.warning(f"Filter not understood: {exc.message}")
        return
    if found:
        tables.show(charts.style_stages(charts.search_frame(found)), hide_index=True,
                     width="stretch")
    else:
        st.info("No version matches these filters.")


def _comparison(api: Registry, model: str, versions: list[dict]) -> None:
    st.subheader(f"Compare versions of {model}")
    numbers = [v["version"] for v in sorted(versions, key=lambda v: v["created_at"])]
    if len(numbers) < 2:
        st.caption("A comparison needs at least two versions.")
        return
    chosen = st.multiselect("Versions", numbers, default=numbers[-2:], key=f"reg_cmp_{model}")
    if len(chosen) < 2:
        st.caption("Choose at least two versions.")
        return
    comparison = api.compare_versions(model, chosen)
    left, right = st.columns([2, 3])
    metrics = pd.DataFrame(
        {"metric": name, "direction": entry["direction"], "best": entry.get("best") or "tie",
         **{v: entry["values"].get(v) for v in chosen}}
        for name, entry in comparison["metrics"].items()
    )
    left.markdown("**Metrics** (best version per metric by its direction)")
    tables.show(metrics, on=left, hide_index=True, width="stretch")
    if comparison["metrics"]:
        right.altair_chart(charts.metrics_comparison_chart(comparison), width="content")
    params = pd.DataFrame(
        {"parameter": name, "differs": "yes" if entry["differs"] else "",
         **{v: str(entry["values"].get(v)) for v in chosen}}
        for name, entry in comparison["hyperparameters"].items()
    )
    if not params.empty:
        left.markdown("**Hyperparameters** (differences highlighted)")
        tables.show(charts.highlight_rows(params), on=left, hide_index=True, width="stretch")


def _history(api: Registry, model: str, versions: list[dict]) -> None:
    st.subheader("Transition history")
    rows = api.transitions(model)
    if not rows:
        st.caption("No transitions yet.")
        return
    frame = pd.DataFrame([{
        "when": r["created_at"][:19].replace("T", " "), "version": r["version"],
        "kind": r["kind"], "from": r["from_stage"], "to": r["to_stage"],
        "by": r.get("actor") or "", "reason": r.get("reason", ""), "source": r.get("source", ""),
    } for r in rows])
    tables.show(charts.style_stages(frame, "to"), hide_index=True, width="stretch")


def _promotion_requests(api: Registry, model: str, versions: list[dict]) -> None:
    """Four-eyes: the model's pending requests; another release manager decides each."""
    st.subheader("Promotion requests (four-eyes)")
    flash = st.session_state.pop("reg_pr_flash", None)
    if flash:
        st.success(flash)
    pending = api.promotion_requests(model)
    me = api.me()
    if pending:
        tables.show(pd.DataFrame([{
            "id": r["id"], "version": r["version"], "requested by": r.get("requested_by") or "",
            "when": r["requested_at"][:19].replace("T", " "), "reason": r.get("reason", ""),
        } for r in pending]), hide_index=True, width="stretch")
    else:
        st.caption("No pending promotion request.")
    if not me.get("release_manager"):
        if pending:
            st.caption("Approving or refusing needs a release manager's token.")
        return
    for request in pending:
        if request.get("requested_by") == me.get("username"):
            st.caption(f"Request {request['id']} is yours: another release manager decides.")
            continue
        _decision_form(api, request)
    model_row = next((m for m in api.models() if m["name"] == model), {})
    candidates = [v["version"] for v in versions if v["stage"] in (Stage.DRAFT, Stage.STAGING)]
    if model_row.get("require_four_eyes") and candidates:
        with st.form(key=f"reg_pr_new_{model}", clear_on_submit=True):
            version = st.selectbox("Request production for", candidates,
                                   key=f"reg_pr_new_version_{model}")
            reason = st.text_input("Reason (required)", key=f"reg_pr_new_reason_{model}")
            if st.form_submit_button("Request promotion", key=f"reg_pr_new_go_{model}"):
                _decide(api, lambda: api.request_promotion(model, version, reason), reason,
                        f"Promotion of {model} {version} requested.")


def _decision_form(api: Registry, request: dict) -> None:
    number = request["id"]
    with st.form(key=f"reg_pr_{number}", clear_on_submit=True):
        st.markdown(f"Request {number}: **{request['version']}** to production, asked by "
                    f"{request.get('requested_by') or 'unknown'}")
        reason = st.text_input("Reason (required to refuse)", key=f"reg_pr_reason_{number}")
        approve, refuse = st.columns(2)
        if approve.form_submit_button("Approve", key=f"reg_pr_approve_{number}"):
            _decide(api, lambda: api.approve_promotion(number, reason), "ok",
                    f"Request {number} approved: {request['version']} is in production.")
        if refuse.form_submit_button("Refuse", key=f"reg_pr_refuse_{number}"):
            _decide(api, lambda: api.refuse_promotion(number, reason), reason,
                    f"Request {number} refused.")


def _decide(api: Registry, action: Change, reason: str, done: str) -> None:
    if _attempt(api, action, reason) is not None:
        st.session_state["reg_pr_flash"] = done
        st.rerun()


def _load_checks(api: Registry, model: str, versions: list[dict]) -> None:
    st.subheader("Load checks")
    st.caption("Each version loaded and exercised by a worker in a fresh process before it "
               "may leave draft; verified metrics are computed there on the model's "
               "evaluation datasets.")
    if not versions:
        return
    tables.show(charts.style_status(load_check.checks_frame(versions), "load check"),
                hide_index=True, width="stretch")
    metrics = load_check.metrics_frame(versions)
    if not metrics.empty:
        st.markdown("**Metrics: reported at registration vs verified by the registry**")
        tables.show(metrics, hide_index=True, width="stretch")


NEXT_STAGE: dict[str, str] = {
    Stage.DRAFT: Stage.STAGING, Stage.STAGING: Stage.PRODUCTION,
    Stage.ARCHIVED: Stage.PRODUCTION,
}
MOVE_NAMES: dict[tuple[str, str], str] = {
    (Stage.DRAFT, Stage.STAGING): "staging (submit for review)",
    (Stage.STAGING, Stage.DRAFT): "draft (reject)",
    (Stage.STAGING, Stage.PRODUCTION): "production (promote)",
    (Stage.DRAFT, Stage.PRODUCTION): "production (promote)",
    (Stage.ARCHIVED, Stage.PRODUCTION): "production (roll forward)",
    (Stage.PRODUCTION, Stage.ARCHIVED): "archived (take out of production)",
}


def move_options(stage: str, moves: list[str]) -> list[str]:
    """The moves, the sensible next one first (a draft's is staging), then by stage."""
    following = NEXT_STAGE.get(stage)
    return sorted(moves, key=lambda to: (to != following,
                                         STAGES.index(to) if to in STAGES else len(STAGES)))


def _actions(api: Registry, model: str, versions: list[dict]) -> None:
    st.subheader("Promote, roll forward or roll back")
    flash = st.session_state.pop("reg_flash", None)
    if flash:
        st.success(flash)
    if not versions:
        return
    numbers = [v["version"] for v in sorted(versions, key=lambda v: v["created_at"],
                                            reverse=True)]
    left, right = st.columns(2)
    with left:
        chosen = st.selectbox("Version", numbers, key=f"reg_act_version_{model}")
        detail = api.version(model, chosen)
        _move_form(api, model, detail)
    with right:
        _rollback_form(api, model, versions)


def _move_form(api: Registry, model: str, detail: dict) -> None:
    chosen, stage = detail["version"], detail["stage"]
    st.markdown(f"**{model} {chosen}** is :{charts.STAGE_COLORS.get(stage, 'gray')}"
                f"-badge[{stage}]")
    moves = move_options(stage, list(detail.get("available_transitions") or []))
    if stage in NEXT_STAGE:  # draft, staging, archived: what production would ask of it
        report = version_gates(api, model, chosen)
        failed = [g for g in report.get("gates") or [] if not g.get("passed")]
        if failed:
            st.error(f"The gates refuse production for {chosen}: " + "; ".join(
                f"{g['gate']} wanted {g['wanted']}, got {g['got']}" for g in failed) + ".")
            moves = [to for to in moves if to != Stage.PRODUCTION]
        elif report.get("gates"):
            st.caption(f"Production gates: all {len(report['gates'])} pass for {chosen}.")
        tables.show(charts.gate_report(report.get("gates") or []), hide_index=True,
                     width="stretch")
    if not moves:
        st.caption("No move is open to your token's user for this version.")
        return
    with st.form(key=f"reg_move_{model}_{chosen}", clear_on_submit=True):
        target = st.selectbox("Move to", moves, key=f"reg_move_to_{model}_{chosen}",
                              format_func=lambda to: MOVE_NAMES.get((stage, to), to))
        reason = st.text_input("Reason (required)", key=f"reg_move_reason_{model}_{chosen}")
        if st.form_submit_button("Apply transition", key=f"reg_move_go_{model}_{chosen}"):
            _apply(api, lambda: api.transition(model, chosen, target, reason), reason,
                   f"{model} {chosen} moved to {target}.")


def _rollback_form(api: Registry, model: str, versions: list[dict]) -> None:
    production = next((v for v in versions if v["stage"] == Stage.PRODUCTION), None)
    if production is None:
        st.caption(f"{model} has no production version, so there is nothing to roll back.")
        return
    detail = api.version(model, production["version"])
    target = detail.get("rollback_to")
    if not target:
        st.caption(f"No roll back: no earlier production version of {model} is left to "
                   f"restore before {production['version']}.")
        return
    if Stage.ARCHIVED not in (detail.get("available_transitions") or []):
        st.caption("Rolling back needs the promote permission (a release manager's token).")
        return
    with st.form(key=f"reg_rollback_{model}", clear_on_submit=True):
        st.markdown(f"Roll **{model}** back from {production['version']} to **{target}** "
                    "(the version in production before it).")
        reason = st.text_input("Reason (required)", key=f"reg_rollback_reason_{model}")
        if st.form_submit_button(f"Roll back to {target}", key=f"reg_rollback_go_{model}"):
            _apply(api, lambda: api.rollback(model, reason), reason,
                   f"{model} rolled back to {target}.")


def _apply(api: Registry, action: Change, reason: str, done: str) -> None:
    record = _attempt(api, action, reason)
    if record is not None:
        st.session_state["reg_flash"] = (
            f"{done} Recorded as a {record.get('kind', '')} by {record.get('actor') or 'you'}."
        )
        st.rerun()


def _attempt(api: Registry, action: Change, reason: str) -> dict[str, Any] | None:
    """Run a change that needs a reason; its answer, or None after showing why it failed
    (with the gate report when a gate refused it)."""
    if not reason.strip():
        st.error("Give a reason: it goes into the audit trail.")
        return None
    try:
        return action() or {}
    except AxionAPIError as exc:
        st.error(describe_error(exc, api.base_url))
        report = (exc.details or {}).get("gate_report") if isinstance(exc.details, dict) else None
        if report:
            tables.show(charts.gate_report(report), hide_index=True)
    except APIUnreachable as exc:
        st.error(describe_error(exc, api.base_url))
    return None
