"""Reading ``GET /metrics`` in tests: samples by name and labels, parsed by prometheus_client."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

Sample = tuple[str, frozenset[tuple[str, str]]]


def samples(text: str) -> dict[Sample, float]:
    """Every sample of an exposition, keyed by its name and its labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict[Sample, float], name: str, **labels: str) -> float:
    """One sample's value; 0 when the series is absent (nothing counted yet)."""
    return found.get((name, frozenset(labels.items())), 0.0)


def total(found: dict[Sample, float], name: str, **labels: str) -> float:
    """The sum over the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, found_labels), v in found.items() if n == name and wanted <= found_labels)


async def metric(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return value(samples(response.text), name, **labels)
