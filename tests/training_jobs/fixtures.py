"""Fixtures for any test that talks to the emulated cluster (import them into the module
or conftest that needs them): kmock serving `ApiServer`, and `cluster`, whose API
requests are checked against the chart's Role when the test ends."""

from __future__ import annotations

import pytest

from tests.training_jobs.cluster import ApiServer, Cluster
from tests.training_jobs.rbac import assert_granted


@pytest.fixture
def kmock_options(kmock_options):
    return {**kmock_options, "cls": ApiServer}


@pytest.fixture
def cluster(kmock, request):
    # Parametrize indirectly with the Kueue Workload version the cluster serves (None: no Kueue).
    cluster = Cluster(kmock, getattr(request, "param", "v1beta1"))
    yield cluster
    assert_granted(cluster.api_requests())
