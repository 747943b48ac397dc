"""Which ONNX files may be loaded: parsed, never run, and no tensor that points at a file.

onnxruntime resolves a tensor's external data relative to the server's working directory,
so a model whose initializer names ``../../var/api-token`` returns the token as weights.
Every tensor is looked at: the graph's initializers and sparse initializers, every node's
attribute tensors, the subgraphs of If/Loop/Scan (and any graph attribute), the model's
functions and training graphs. No Django here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import onnx
from google.protobuf.message import DecodeError
from onnx import AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto


@dataclass(frozen=True)
class OnnxAudit:
    external: tuple[str, ...] = ()  # "<where>: <location>" for each tensor that names a file
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.external


def _location(tensor: TensorProto) -> str | None:
    if tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data):
        entries = {entry.key: entry.value for entry in tensor.external_data}
        return entries.get("location", "(no location)")
    return None


def _attribute_tensors(attribute: AttributeProto) -> Iterator[TensorProto]:
    if attribute.HasField("t"):
        yield attribute.t
    yield from attribute.tensors
    for sparse in [attribute.sparse_tensor] if attribute.HasField("sparse_tensor") else []:
        yield sparse.values
        yield sparse.indices
    for sparse in attribute.sparse_tensors:
        yield sparse.values
        yield sparse.indices


def _attribute_graphs(attribute: AttributeProto) -> Iterator[GraphProto]:
    if attribute.HasField("g"):
        yield attribute.g
    yield from attribute.graphs


def _node_tensors(nodes: Iterable[NodeProto], where: str) -> Iterator[tuple[str, TensorProto]]:
    for node in nodes:
        for attribute in node.attribute:
            label = f"{where}/{node.op_type}:{node.name or '?'}.{attribute.name}"
            for tensor in _attribute_tensors(attribute):
                yield label, tensor
            for graph in _attribute_graphs(attribute):
                yield from _graph_tensors(graph, label)


def _graph_tensors(graph: GraphProto, where: str) -> Iterator[tuple[str, TensorProto]]:
    where = f"{where}/{graph.name or 'graph'}"
    for tensor in graph.initializer:
        yield f"{where} initializer {tensor.name}", tensor
    for sparse in graph.sparse_initializer:
        yield f"{where} sparse initializer {sparse.values.name}", sparse.values
        yield f"{where} sparse initializer {sparse.values.name} (indices)", sparse.indices
    yield from _node_tensors(graph.node, where)


def model_tensors(model: ModelProto) -> Iterator[tuple[str, TensorProto]]:
    """Every tensor stored anywhere in the model, with where it sits."""
    yield from _graph_tensors(model.graph, "model")
    for function in model.functions:
        yield from _node_tensors(function.node, f"function {function.name}")
    for number, info in enumerate(model.training_info):
        yield from _graph_tensors(info.initialization, f"training_info[{number}]")
        yield from _graph_tensors(info.algorithm, f"training_info[{number}]")


def audit(data: bytes) -> OnnxAudit:
    """Parse without loading external data or running anything; name every external tensor.

    onnx.load_from_string never reads external data (only onnx.load_model with a path
    does), so the bytes parsed are the bytes given.
    """
    try:
        model = onnx.load_from_string(data, format="protobuf")
    except (DecodeError, ValueError, RuntimeError, TypeError) as exc:
        return OnnxAudit(error=f"it is not an ONNX model ({type(exc).__name__})")
    if model.ir_version <= 0 or not model.opset_import or not model.graph.node:
        return OnnxAudit(error="it is not an ONNX model (no IR version, opset or graph nodes)")
    external = tuple(
        f"{where}: {location}"
        for where, tensor in model_tensors(model)
        if (location := _location(tensor)) is not None
    )
    if external:
        return OnnxAudit(external=external)
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as exc:
        return OnnxAudit(error=f"it is not a valid ONNX model ({str(exc).splitlines()[0]})")
    return OnnxAudit()
