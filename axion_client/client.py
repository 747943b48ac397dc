"""AxionClient: one object for every resource of the API."""

from __future__ import annotations

from axion_client.abtests import ABTestsAPI
from axion_client.experiments import ExperimentsAPI
from axion_client.registry import RegistryAPI
from axion_client.serving import ServingAPI


class AxionClient(RegistryAPI, ExperimentsAPI, ABTestsAPI, ServingAPI):
    """The Axion API for one token: `AxionClient(url, token)` or `AxionClient.from_env()`."""
