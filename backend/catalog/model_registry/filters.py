"""The advanced filter language of `POST /catalog/models/filter`, compiled to one SQL condition.

    {"all": [{"field": "performance.accuracy", "op": "gte", "value": 0.9},
             {"any": [{"field": "type", "op": "eq", "value": "NLP"},
                      {"field": "metadata.tags", "op": "contains", "value": "vision"}]}]}

Fields are the AI Model document's paths; ops are eq, ne, gt, gte, lt, lte, in, contains, exists;
`all`/`any` nest (depth 6, 50 conditions). Anything unknown is REQ_001 naming where it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, func, not_, or_, true
from sqlmodel import col, select

from backend.catalog.model_registry.models import RegisteredModel
from backend.core.errors import InvalidRequest
from backend.core.timeutil import to_utc

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "exists")
MAX_DEPTH = 6
MAX_CONDITIONS = 50
MAX_IN = 100


@dataclass(frozen=True)
class FieldSpec:
    kind: str  # str | num | int | bool | time | list
    column: Any = None  # a column, or (json column, path) for nested document values
    path: tuple[str, ...] = ()
    label: str | None = None  # list fields: the ModelLabel kind


def _json(column: Any, *path: str, kind: str) -> FieldSpec:
    return FieldSpec(kind=kind, column=column, path=path)


M = RegisteredModel
FIELDS: dict[str, FieldSpec] = {
    "id": FieldSpec("str", M.id),
    "name": FieldSpec("str", M.name),
    "type": FieldSpec("str", M.type),
    "category": FieldSpec("str", M.category),
    "framework": FieldSpec("str", M.framework),
    "architecture": FieldSpec("str", M.architecture),
    "version": FieldSpec("str", M.version),
    "status": FieldSpec("str", M.status),
    "deploymentType": FieldSpec("str", M.deployment_type),
    "createdBy": FieldSpec("str", M.created_by),
    "createdAt": FieldSpec("time", M.created_at),
    "updatedAt": FieldSpec("time", M.updated_at),
    "parameters": FieldSpec("int", M.parameters),
    "contextLength": FieldSpec("int", M.context_length),
    "capabilities": FieldSpec("list", label="capability"),
    "metadata.tags": FieldSpec("list", label="tag"),
    "metadata.license": FieldSpec("str", M.license),
    "metadata.description": FieldSpec("str", M.description),
    "metadata.documentation": FieldSpec("str", M.documentation),
    "metadata.paper": FieldSpec("str", M.paper),
    "training.dataset": _json(M.training, "dataset", kind="str"),
    "training.epochs": _json(M.training, "epochs", kind="num"),
    "training.batchSize": _json(M.training, "batchSize", kind="num"),
    "training.learningRate": _json(M.training, "learningRate", kind="num"),
    "training.optimizer": _json(M.training, "optimizer", kind="str"),
    "training.loss": _json(M.training, "loss", kind="str"),
    "training.trainingTime": _json(M.training, "trainingTime", kind="str"),
    "training.computeResources.gpu": _json(M.training, "computeResources", "gpu", kind="str"),
    "training.computeResources.memory": _json(M.training, "computeResources", "memory", kind="str"),
    "training.computeResources.storage": _json(M.training, "computeResources", "storage", kind="str"),
    "performance.accuracy": FieldSpec("num", M.accuracy),
    "performance.precision": _json(M.performance, "precision", kind="num"),
    "performance.recall": _json(M.performance, "recall", kind="num"),
    "performance.f1Score": _json(M.performance, "f1Score", kind="num"),
    "performance.latency.p50": _json(M.performance, "latency", "p50", kind="num"),
    "performance.latency.p95": _json(M.performance, "latency", "p95", kind="num"),
    "performance.latency.p99": _json(M.performance, "latency", "p99", kind="num"),
    "performance.throughput": _json(M.performance, "throughput", kind="num"),
    "pricing.model": _json(M.pricing, "model", kind="str"),
    "pricing.inputTokens": _json(M.pricing, "inputTokens", kind="num"),
    "pricing.outputTokens": _json(M.pricing, "outputTokens", kind="num"),
    "pricing.fixedCost": _json(M.pricing, "fixedCost", kind="num"),
    "pricing.currency": _json(M.pricing, "currency", kind="str"),
    "deployment.endpoints": FieldSpec("list", label="endpoint"),
    "deployment.replicas": _json(M.deployment, "replicas", kind="num"),
    "deployment.autoScaling": _json(M.deployment, "autoScaling", kind="bool"),
    "deployment.minReplicas": _json(M.deployment, "minReplicas", kind="num"),
    "deployment.maxReplicas": _json(M.deployment, "maxReplicas", kind="num"),
    "deployment.targetUtilization": _json(M.deployment, "targetUtilization", kind="num"),
}
OPS_BY_KIND = {
    "str": ("eq", "ne", "in", "contains", "exists"),
    "num": ("eq", "ne", "gt", "gte", "lt", "lte", "in", "exists"),
    "int": ("eq", "ne", "gt", "gte", "lt", "lte", "in", "exists"),
    "time": ("eq", "ne", "gt", "gte", "lt", "lte", "exists"),
    "bool": ("eq", "ne", "exists"),
    "list": ("contains", "in", "exists"),
}


def _bad(where: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"The filter is invalid at {where}: {message}", {where: message})


class _Compiler:
    def __init__(self) -> None:
        self.conditions = 0

    def node(self, node: Any, where: str, depth: int):  # noqa: ANN201
        if depth > MAX_DEPTH:
            raise _bad(where, f"nested deeper than {MAX_DEPTH} levels")
        if not isinstance(node, dict):
            raise _bad(where, "expected an object with `all`, `any` or `field`/`op`")
        groups = [k for k in ("all", "any") if k in node]
        if groups:
            if len(node) != 1:
                extra = sorted(set(node) - {groups[0]})
                raise _bad(where, f"a group has only `{groups[0]}`; unknown key(s): {', '.join(extra)}")
            key = groups[0]
            items = node[key]
            if not isinstance(items, list) or not items:
                raise _bad(f"{where}.{key}", "expected a non-empty list")
            parts = [self.node(item, f"{where}.{key}[{i}]", depth + 1) for i, item in enumerate(items)]
            return and_(*parts) if key == "all" else or_(*parts)
        unknown = sorted(set(node) - {"field", "op", "value"})
        if unknown:
            raise _bad(where, f"unknown key(s): {', '.join(unknown)}")
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise _bad(where, f"more than {MAX_CONDITIONS} conditions")
        return self.condition(node, where)

    def condition(self, node: dict, where: str):  # noqa: ANN201
        field = node.get("field")
        if not isinstance(field, str) or field not in FIELDS:
            raise _bad(f"{where}.field", f"unknown field '{str(field)[:100]}'; known: {', '.join(FIELDS)}")
        spec = FIELDS[field]
        op = node.get("op")
        if not isinstance(op, str) or op not in OPS:
            raise _bad(f"{where}.op", f"unknown op '{str(op)[:20]}'; use one of {', '.join(OPS)}")
        if op not in OPS_BY_KIND[spec.kind]:
            raise _bad(f"{where}.op", f"'{op}' does not apply to {field}; use {', '.join(OPS_BY_KIND[spec.kind])}")
        if "value" not in node and op != "exists":
            raise _bad(f"{where}.value", "missing")
        value = node.get("value", True)
        if spec.kind == "list":
            return self.list_condition(spec, op, value, f"{where}.value")
        expr = self.expression(spec)
        if op == "exists":
            if not isinstance(value, bool):
                raise _bad(f"{where}.value", "exists takes true or false")
            return expr.is_not(None) if value else expr.is_(None)
        if op == "in":
            if not isinstance(value, list) or not value or len(value) > MAX_IN:
                raise _bad(f"{where}.value", f"in takes a list of 1–{MAX_IN} values")
            return expr.in_([self.scalar(spec, v, f"{where}.value[{i}]") for i, v in enumerate(value)])
        if op == "contains":
            text = self.scalar(spec, value, f"{where}.value")
            escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return func.lower(expr).like(f"%{escaped}%", escape="\\")
        scalar = self.scalar(spec, value, f"{where}.value")
        compare = {"eq": expr.__eq__, "ne": expr.__ne__, "gt": expr.__gt__, "gte": expr.__ge__,
                   "lt": expr.__lt__, "lte": expr.__le__}[op]
        result = compare(scalar)
        return or_(result, expr.is_(None)) if op == "ne" else result

    @staticmethod
    def expression(spec: FieldSpec):  # noqa: ANN205
        if not spec.path:
            return spec.column
        element = spec.column[spec.path if len(spec.path) > 1 else spec.path[0]]
        return {"str": element.as_string(), "num": element.as_float(), "bool": element.as_boolean()}[spec.kind]

    @staticmethod
    def scalar(spec: FieldSpec, value: Any, where: str) -> Any:
        kind = spec.kind
        if kind in ("str", "list"):
            if not isinstance(value, str) or len(value) > 500 or "\x00" in value:
                raise _bad(where, "expected a string (at most 500 characters, no NUL)")
            return value
        if kind in ("num", "int"):
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value \
                    or abs(value) > 1e18:
                raise _bad(where, "expected a number")
            return int(value) if kind == "int" and float(value).is_integer() else value
        if kind == "bool":
            if not isinstance(value, bool):
                raise _bad(where, "expected true or false")
            return value
        if kind == "time":
            if not isinstance(value, str):
                raise _bad(where, "expected an ISO-8601 timestamp")
            try:
                return to_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
            except ValueError as exc:
                raise _bad(where, "expected an ISO-8601 timestamp") from exc
            except OverflowError as exc:  # 9999-12-31T23:59:59-23:59 has no UTC equivalent
                raise _bad(where, "the instant is outside the range of UTC timestamps (years 1 to 9999)") from exc
        raise _bad(where, "unsupported value")

    def list_condition(self, spec: FieldSpec, op: str, value: Any, where: str):  # noqa: ANN201
        from backend.catalog.model_registry.models import ModelLabel

        def has(values: list[str]):  # noqa: ANN202
            return select(ModelLabel.model_id).where(
                ModelLabel.model_id == RegisteredModel.id, ModelLabel.kind == spec.label,
                col(ModelLabel.value).in_(values)).exists()

        if op == "exists":
            if not isinstance(value, bool):
                raise _bad(where, "exists takes true or false")
            any_label = select(ModelLabel.model_id).where(ModelLabel.model_id == RegisteredModel.id,
                                                          ModelLabel.kind == spec.label).exists()
            return any_label if value else not_(any_label)
        if op == "contains":
            item = self.scalar(spec, value, where)
            return has([item.lower() if spec.label != "endpoint" else item])
        if not isinstance(value, list) or not value or len(value) > MAX_IN:
            raise _bad(where, f"in takes a list of 1–{MAX_IN} values")
        items = [self.scalar(spec, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return has([v.lower() if spec.label != "endpoint" else v for v in items])


def compile_filter(body: Any):  # noqa: ANN201
    """One SQL condition for a filter document (an empty object matches everything)."""
    if body is None or body == {}:
        return true()
    if not isinstance(body, dict):
        raise _bad("body", "expected an object")
    return _Compiler().node(body, "body", 1)


# Indexed columns whose ranges can be narrow; SQLite cannot tell how narrow (see service.list_models).
RANGE_INDEXED = frozenset({"parameters", "contextLength", "performance.accuracy", "createdAt", "updatedAt"})
RANGE_OPS = frozenset({"eq", "gt", "gte", "lt", "lte", "in"})


def indexed_ranges(body: Any) -> list:
    """The conditions of a (valid) filter that every match must meet and that an index can answer:
    the filter itself or its top-level `all` members, when they compare an indexed number or time."""
    members = body.get("all", [body]) if isinstance(body, dict) else []
    return [_Compiler().condition(m, "body") for m in members
            if isinstance(m, dict) and m.get("field") in RANGE_INDEXED and m.get("op") in RANGE_OPS]


__all__ = ["FIELDS", "OPS", "compile_filter", "indexed_ranges", "false"]
