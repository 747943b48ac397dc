"""The Model Registry tab's four-eyes section: pending requests, approve and refuse."""

from __future__ import annotations

from dashboard.tests.conftest import tab, texts
from dashboard.tests.fake_api import Reply, page

PENDING = {"id": 7, "model": "stock-ranking", "version": "1.1.0", "status": "pending",
           "reason": "won the A/B test", "source": "abtest:3", "requested_by": "axion-system",
           "requested_at": "2026-11-28T09:00:00Z", "decided_by": None, "decided_at": None,
           "decision_reason": "", "gate_report": [], "transition": None}


def with_pending(fake_api, **changes):
    def answer(request):
        from urllib.parse import parse_qs, urlsplit

        query = parse_qs(urlsplit(request.url).query)
        rows = [{**PENDING, **changes}] if query.get("model") == ["stock-ranking"] else []
        return 200, page(rows)

    fake_api.routes["promotion-requests/"] = answer


def test_it_lists_the_pending_requests_of_the_selected_model(fake_api, app):
    with_pending(fake_api)
    registry = tab(app(), "Model Registry")
    query, _ = fake_api.requests("GET", "promotion-requests/")[-1]
    assert (query["model"], query["status"]) == ("stock-ranking", "pending")
    frame = next(d.value for d in registry.dataframe if "requested by" in d.value.columns)
    assert list(frame["version"]) == ["1.1.0"]
    assert list(frame["requested by"]) == ["axion-system"]


def test_a_release_manager_approves_a_request(fake_api, app):
    with_pending(fake_api)
    fake_api.posts["promotion-requests/7/approve/"] = Reply(200, {**PENDING,
                                                                  "status": "approved"})
    at = app()
    at.button(key="reg_pr_approve_7").click()
    app(at)
    assert [body for _, body in fake_api.requests("POST", "promotion-requests/7/approve/")] == [
        {"reason": ""}]
    assert "Request 7 approved" in texts(tab(at, "Model Registry"))


def test_a_refusal_needs_a_reason_and_sends_it(fake_api, app):
    with_pending(fake_api)
    fake_api.posts["promotion-requests/7/refuse/"] = Reply(200, {**PENDING,
                                                                 "status": "refused"})
    at = app()
    at.button(key="reg_pr_refuse_7").click()
    app(at)
    assert fake_api.requests("POST", "promotion-requests/7/refuse/") == []
    assert "Give a reason" in texts(tab(at, "Model Registry"))
    at.text_input(key="reg_pr_reason_7").set_value("latency regression")
    at.button(key="reg_pr_refuse_7").click()
    app(at)
    assert [body for _, body in fake_api.requests("POST", "promotion-requests/7/refuse/")] == [
        {"reason": "latency regression"}]


def test_an_approval_refused_by_the_gates_shows_the_report(fake_api, app):
    with_pending(fake_api)
    fake_api.posts["promotion-requests/7/approve/"] = Reply(409, {
        "code": "gate_refused", "message": "stock-ranking 1.1.0 may not enter production.",
        "details": {"promotion_request_id": 7, "gate_report": [
            {"gate": "threshold:auc", "passed": False, "wanted": "auc >= 0.7",
             "got": "auc = 0.68"}]}})
    at = app()
    at.button(key="reg_pr_approve_7").click()
    app(at)
    registry = tab(at, "Model Registry")
    assert "409 (gate_refused)" in texts(registry)
    assert any(list(d.value.columns[:1]) == ["gate"] for d in registry.dataframe)


def test_no_buttons_for_a_user_who_is_not_a_release_manager(fake_api, app):
    with_pending(fake_api)
    fake_api.routes["me/"] = {"username": "rita", "release_manager": False,
                              "publisher": False, "superuser": False, "owned_models": []}
    at = app()
    keys = {b.key for b in at.button}
    assert "reg_pr_approve_7" not in keys and "reg_pr_refuse_7" not in keys
    assert "needs a release manager's token" in texts(tab(at, "Model Registry"))


def test_the_requester_is_told_another_release_manager_decides(fake_api, app):
    with_pending(fake_api, requested_by="max_release")
    at = app()
    assert "reg_pr_approve_7" not in {b.key for b in at.button}
    assert "Request 7 is yours" in texts(tab(at, "Model Registry"))


def test_a_release_manager_requests_promotion_on_a_four_eyes_model(fake_api, app):
    fake_api.routes["models/"]["results"][0]["require_four_eyes"] = True
    fake_api.posts["models/stock-ranking/versions/1.1.0/promotion-requests/"] = Reply(
        201, PENDING)
    at = app()
    at.text_input(key="reg_pr_new_reason_stock-ranking").set_value("won the A/B test")
    at.button(key="reg_pr_new_go_stock-ranking").click()
    app(at)
    posted = fake_api.requests("POST", "models/stock-ranking/versions/1.1.0/promotion-requests/")
    assert [body for _, body in posted] == [{"reason": "won the A/B test"}]
    assert "Promotion of stock-ranking 1.1.0 requested" in texts(tab(at, "Model Registry"))
