"""CustomResourceDefinitions generated from the pydantic models (one source of truth). Torch-free.

``custom_resource_definition`` is generic: the operator builds the HyperpruneTrial CRD with it, and
passes its typed status model once it has one (until then status is a free-form object).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import yaml
from pydantic import BaseModel

from hyperprune.spec.models import GROUP, KIND, VERSION, SearchSpec
from hyperprune.spec.structural import PRESERVE, structural_schema

CATEGORY = "hyperprune"


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str  # string, integer, number, boolean, date
    json_path: str
    description: str = ""
    priority: int = 0  # 0: shown by `kubectl get`; 1: only with -o wide

    def dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            out["description"] = self.description
        if self.priority:
            out["priority"] = self.priority
        return out


AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp")

# The status fields these columns read are the contract with the operator's status model.
SEARCH_COLUMNS = (
    PrinterColumn("Strategy", "string", ".spec.strategy.name", "how candidates are stopped early"),
    PrinterColumn("Phase", "string", ".status.phase", "Pending, Running, Succeeded, Failed or Invalid"),
    PrinterColumn("Running", "integer", ".status.trials.running", "trials running now"),
    PrinterColumn("Stopped", "integer", ".status.trials.stopped", "trials stopped early"),
    PrinterColumn("Done", "integer", ".status.trials.completed", "trials trained to the end"),
    PrinterColumn("Best", "number", ".status.best.metric", "validation metric of the best candidate"),
    AGE,
)


def custom_resource_definition(
    *,
    kind: str,
    plural: str,
    spec_model: type[BaseModel],
    status_model: type[BaseModel] | None = None,
    description: str = "",
    short_names: Sequence[str] = (),
    categories: Sequence[str] = (CATEGORY,),
    printer_columns: Sequence[PrinterColumn] = (AGE,),
    group: str = GROUP,
    version: str = VERSION,
    scope: str = "Namespaced",
) -> dict[str, Any]:
    """An apiextensions.k8s.io/v1 CRD with a structural schema, the status subresource and columns."""
    status = structural_schema(status_model) if status_model else {"type": "object", PRESERVE: True}
    schema = {
        "type": "object",
        "description": description or (spec_model.__doc__ or "").strip(),
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": structural_schema(spec_model),
            "status": status,
        },
        "required": ["spec"],
    }
    if not schema["description"]:
        del schema["description"]
    names: dict[str, Any] = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
    }
    if short_names:
        names["shortNames"] = list(short_names)
    if categories:
        names["categories"] = list(categories)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": names,
            "scope": scope,
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [c.dump() for c in printer_columns],
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def search_crd() -> dict[str, Any]:
    from hyperprune.spec.status import SearchStatus  # the operator's status model

    return custom_resource_definition(
        kind=KIND,
        plural="hyperprunesearches",
        spec_model=SearchSpec,
        status_model=SearchStatus,
        description=(
            "A search for the best pruned variant of a recurrent network: candidates train briefly, their "
            "Lyapunov spectra are compared with the dense model's, far ones stop early, the best is promoted."
        ),
        short_names=("hps", "hpsearch"),
        printer_columns=SEARCH_COLUMNS,
    )


def all_crds() -> list[dict[str, Any]]:
    """Every CRD of the project, in the order `hyperprune crd` prints them."""
    from hyperprune.spec.trial_resource import trial_crd  # one per trial, created by the operator

    return [search_crd(), trial_crd()]


def dump_yaml(documents: Sequence[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(list(documents), sort_keys=False, width=110, explicit_start=True)
