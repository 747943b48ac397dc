from __future__ import annotations


def test_a_fluent_run_lands_in_axion(tracking, client, api):
    tracking.set_experiment("ranking-lgbm")
    with tracking.start_run(run_name="first") as run:
        tracking.log_param("lr", 0.01)
        tracking.log_metric("loss", 0.5, step=1)
        tracking.log_metric("loss", 0.4, step=2)
        tracking.set_tag("team", "quant")
    got = client.get_run(run.info.run_id)
    assert got.data.params == {"lr": "0.01"}
    assert got.data.metrics == {"loss": 0.4}
    history = api.get(f"/api/v1/runs/{run.info.run_id}/metrics/loss/history/").json()
    assert history["values"] == [0.5, 0.4]
