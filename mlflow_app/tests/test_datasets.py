"""mlflow.log_input of a pandas dataset: kept per experiment, linked to the run."""

from __future__ import annotations

import pandas as pd


def test_log_input_records_the_dataset_and_its_context(tracking, client):
    import mlflow.data

    frame = pd.DataFrame({"ret_1d": [0.1, -0.2, 0.05], "label": [1, 0, 1]})
    dataset = mlflow.data.from_pandas(frame, name="prices-2024", targets="label")
    experiment_id = tracking.set_experiment("ranking-lgbm").experiment_id
    with tracking.start_run() as run:
        tracking.log_input(dataset, context="training")
        tracking.log_input(dataset, context="training")  # the same input again: kept once
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.name == "prices-2024"
    assert inputs[0].dataset.digest == dataset.digest
    assert inputs[0].dataset.source_type == "code" or inputs[0].dataset.source_type
    assert {tag.key: tag.value for tag in inputs[0].tags}["mlflow.data.context"] == "training"
    for filter_string in ("datasets.name = 'prices-2024'", "datasets.context = 'training'",
                          f"datasets.digest IN ('{dataset.digest}')"):
        found = client.search_runs([experiment_id], filter_string)
        assert [r.info.run_id for r in found] == [run.info.run_id], filter_string
    assert client.search_runs([experiment_id], "datasets.context = 'eval'") == []
