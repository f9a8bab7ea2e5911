"""A self-hosted PostHog behind a private CA: ``posthog.ca_bundle`` verifies it."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Workspace
from tests.e2e.helpers import LogWriter, is_order, order_rules
from tests.fakeposthog import FakePostHog

CERTS = Path(__file__).parents[1] / "certs"


@pytest.fixture
def posthog_options() -> dict[str, Any]:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(CERTS / "server.pem", CERTS / "server.key")
    return {"tls": tls}


def test_events_reach_a_host_whose_certificate_the_ca_bundle_vouches_for(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    assert posthog.url.startswith("https://")
    (workspace.root / "ca.pem").write_bytes((CERTS / "ca.pem").read_bytes())
    config = workspace.write_config()
    config.write_text(
        config.read_text().replace("posthog:\n", "posthog:\n  ca_bundle: ca.pem\n")
    )
    workspace.write_rules(order_rules(start_at="beginning"))
    LogWriter(workspace.logs / "app.log").append(range(6))

    result = workspace.run_once()

    assert result.returncode == 0, result.stderr.decode()
    assert len(posthog.dedup_view()) == sum(1 for n in range(6) if is_order(n))
