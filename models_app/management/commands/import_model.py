"""Register a legacy pickle (or any artifact file) as a new version."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from axion_registry.errors import DomainError
from models_app import services
from models_app.models import RegisteredModel

FORMATS = {".pkl": "pickle", ".pickle": "pickle", ".joblib": "joblib", ".skops": "skops",
           ".onnx": "onnx"}


class Command(BaseCommand):
    help = "Register an artifact file as a new version of a model (created if absent)."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--name", required=True, help="The registered model's name.")
        parser.add_argument("--framework", required=True)
        parser.add_argument("--format", dest="artifact_format", default="",
                            help="pickle, joblib, skops or onnx (default: from the extension).")
        parser.add_argument("--model-version", dest="model_version", default="",
                            help="An explicit MAJOR.MINOR.PATCH (default: bump).")
        parser.add_argument("--bump", default="minor", choices=["major", "minor", "patch"])
        parser.add_argument("--metrics", default="", help="A JSON file of metric -> number.")
        parser.add_argument("--hyperparameters", default="", help="A JSON file.")
        parser.add_argument("--description", default="")
        parser.add_argument("--signature", default="",
                            help="The artifact's model-signing bundle (model_signing sign key).")

    def handle(self, *args, path, name, framework, artifact_format, model_version, bump, metrics,
               hyperparameters, description, signature="", **options):
        artifact = Path(path)
        if not artifact.is_file():
            raise CommandError(f"No file at {artifact}.")
        artifact_format = artifact_format or FORMATS.get(artifact.suffix.lower(), "")
        if not artifact_format:
            raise CommandError("Cannot tell the format from the extension; pass --format.")
        try:
            if not RegisteredModel.objects.filter(name=name).exists():
                services.model_create(name=name)
            with self._bundle(signature) as bundle:
                row = services.version_register_from_path(
                    path=str(artifact), model_name=name, framework=framework,
                    artifact_format=artifact_format, version=model_version or None, bump=bump,
                    metrics=self._json(metrics), hyperparameters=self._json(hyperparameters),
                    description=description, signature_bundle=bundle,
                )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Registered {row} ({row.artifact_sha256[:12]}, {row.artifact_size} B)")

    @staticmethod
    def _bundle(path: str):
        if not path:
            return contextlib.nullcontext(None)
        try:
            return open(path, "rb")  # noqa: SIM115 - closed by the caller's with
        except OSError as exc:
            raise CommandError(f"Cannot read the signature bundle {path}: {exc}") from exc

    @staticmethod
    def _json(path: str):
        if not path:
            return None
        try:
            return json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"Cannot read {path} as JSON: {exc}") from exc
