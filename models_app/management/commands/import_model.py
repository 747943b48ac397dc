"""Import a real model as a new version: a pickle, joblib, skops or ONNX file, or a legacy
folder (<dir>/model.pkl and <dir>/metadata.json)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from axion_registry.errors import DomainError
from models_app import importing, services
from models_app.vocabulary import Bump


def _json_option(value: str, option: str) -> Any:
    """Inline JSON, or the path of a JSON file."""
    if not value:
        return None
    try:
        if value.lstrip().startswith("{"):
            return json.loads(value)
        return json.loads(Path(value).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CommandError(f"{option}: cannot read {value} as JSON: {exc}") from exc


def _tags(pairs: list[str]) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"--tag {pair!r}: write it as key=value.")
        tags[key] = value
    return tags


class Command(BaseCommand):
    help = ("Register a model file or a legacy folder as a new version of a model (created if "
            "absent), with its signature, metrics and tags.")

    def add_arguments(self, parser):
        parser.add_argument("path", help="A model file, or a legacy folder with model.pkl and "
                                         "metadata.json.")
        parser.add_argument("--name", required=True, help="The registered model's name.")
        parser.add_argument("--framework", default="",
                            help="sklearn, lightgbm, xgboost, ... (default: inferred).")
        parser.add_argument("--format", dest="artifact_format", default="",
                            help="pickle, joblib, skops or onnx (default: from the extension).")
        parser.add_argument("--input-example", dest="input_example", default="",
                            help="A CSV or Parquet file of example rows (the signature's "
                                 "columns, order and dtypes come from it).")
        parser.add_argument("--metrics", default="", help="JSON (inline or a file).")
        parser.add_argument("--hyperparameters", default="", help="JSON (inline or a file).")
        parser.add_argument("--tag", dest="tags", action="append", default=[],
                            metavar="KEY=VALUE", help="Repeatable.")
        parser.add_argument("--model-version", dest="model_version", default="",
                            help="An explicit MAJOR.MINOR.PATCH (default: bump).")
        parser.add_argument("--bump", default=Bump.MINOR, choices=Bump.values)
        parser.add_argument("--description", default="")
        parser.add_argument("--signature", default="",
                            help="The artifact's model-signing bundle (model_signing sign key).")
        parser.add_argument("--source-run-id", dest="source_run_id", default="",
                            help="The experiment run that produced the model (lineage).")

    def handle(self, *args, path: str, name: str, **options: Any) -> None:
        source = Path(path)
        artifact, legacy = self._files(source)
        example = None
        if options["input_example"]:
            try:
                example = importing.read_table(options["input_example"])
            except importing.ImportProblem as exc:
                raise CommandError(str(exc)) from exc
        try:
            with self._bundle(options["signature"]) as bundle:
                result = self._import(name, artifact, legacy, example, bundle, options)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        row = result.version
        for note in result.notes:
            self.stdout.write(f"  note: {note}")
        columns = [c["name"] for c in row.signature.get("inputs", [])]
        self.stdout.write(
            f"Registered {row} ({row.framework}, {row.artifact_sha256[:12]}, "
            f"{row.artifact_size} B, {len(columns)} input columns, serving input "
            f"{row.serving_input}); its load check is queued."
        )

    @staticmethod
    def _import(name: str, artifact: Path, legacy: Any, example: Any, bundle: Any,
                options: dict[str, Any]) -> Any:
        return services.version_import(
            model_name=name, data=artifact.read_bytes(), filename=artifact.name,
            artifact_format=options["artifact_format"], framework=options["framework"],
            legacy_metadata=legacy, input_example=example,
            metrics=_json_option(options["metrics"], "--metrics"),
            hyperparameters=_json_option(options["hyperparameters"], "--hyperparameters"),
            tags=_tags(options["tags"]), version=options["model_version"] or None,
            bump=options["bump"], description=options["description"],
            source_run_id=options["source_run_id"], create_model=True,
            signature_bundle=bundle,
        )

    @staticmethod
    def _bundle(path: str) -> Any:
        if not path:
            return contextlib.nullcontext(None)
        try:
            return open(path, "rb")  # noqa: SIM115 - closed by the caller's with
        except OSError as exc:
            raise CommandError(f"Cannot read the signature bundle {path}: {exc}") from exc

    @staticmethod
    def _files(source: Path) -> tuple[Path, Any]:
        if source.is_file():
            return source, None
        if source.is_dir():
            artifact = source / importing.LEGACY_MODEL_FILE
            metadata = source / importing.LEGACY_METADATA_FILE
            if not artifact.is_file():
                raise CommandError(f"{source} is a folder without {importing.LEGACY_MODEL_FILE}: "
                                   "a legacy save holds model.pkl and metadata.json.")
            legacy = None
            if metadata.is_file():
                try:
                    legacy = json.loads(metadata.read_text())
                except (OSError, json.JSONDecodeError) as exc:
                    raise CommandError(f"Cannot read {metadata} as JSON: {exc}") from exc
            return artifact, legacy
        raise CommandError(f"No file or folder at {source}.")
