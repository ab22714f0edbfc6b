"""Two replicas of the operator never both act: kopf peering through the ClusterKopfPeering of
manifests/operator/. The lower-priority replica waits; when the leader dies, it takes over."""

from __future__ import annotations

import time

from .resources import active, apply, wait_for
from .stack import OperatorProcess

HANDLED = "Handler 'reconcile' succeeded"


def test_a_standby_replica_waits_while_the_leader_acts_and_takes_over_when_it_dies(
        kube, namespace, operator, keyservice, tmp_path):
    standby = OperatorProcess(kube, keyservice.url, tmp_path / "standby", "--priority", "1", "--status-refresh", "2",
                              "--peering-lifetime", "10")
    standby.start()
    try:
        apply(kube, namespace, "led", {})
        wait_for(kube, namespace, "led", active(1), operator)
        time.sleep(1)
        assert HANDLED not in standby.log_tail(400), "the standby acted while the leader was alive"

        operator.kill()
        apply(kube, namespace, "after-failover", {})
        wait_for(kube, namespace, "after-failover", active(1), standby, timeout_s=60)
        assert HANDLED in standby.log_tail(400)
    finally:
        standby.stop()
        operator.start()  # the module's leader again, for whatever runs after
