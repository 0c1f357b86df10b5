"""The Docker API's ServiceSpec body <-> the cluster model: what `service inspect` shows reads back
as the same spec (so `docker service update` round-trips it), Go's case-insensitive field names."""

from __future__ import annotations

import pytest
from pallet.client._cluster_json import spec_json
from pallet.engine.cluster._convert import spec_to_pb
from pallet.engine.cluster._model import ServiceSpec, UpdateConfig
from pallet.engine.dockerapi._http import HTTPError
from pallet.engine.dockerapi._swarm import spec_from_docker


def test_inspected_spec_reads_back_the_same() -> None:
    spec = ServiceSpec(
        name="web", image="reg:5000/web@sha256:" + "a" * 64, command=["httpd"], args=["-f"], env=["A=1"],
        labels={"tier": "front"}, container_labels={"c": "d"}, workdir="/srv", user="1000",
        mounts=[{"type": "volume", "source": "data", "target": "/data", "readonly": True}],
        ports=[{"target": 80, "published": 8080, "protocol": "tcp", "mode": "ingress"},
               {"target": 53, "published": 5353, "protocol": "udp", "mode": "host"}],
        networks=["front"], constraints=["node.labels.zone==a"], mode="replicated", replicas=3,
        health_cmd=["CMD", "true"], health_interval=2.0, health_retries=3, restart_condition="on-failure",
        restart_delay=1.5, restart_max_attempts=4, stop_grace_period=3.0, endpoint_mode="dnsrr",
        update=UpdateConfig(parallelism=2, delay=5.0, failure_action="rollback", monitor=4.0, max_failure_ratio=0.5,
                            order="start-first"))
    assert spec_from_docker(spec_json(spec_to_pb(spec))) == spec
    glob = ServiceSpec(name="agent", image="x", mode="global")
    assert spec_from_docker(spec_json(spec_to_pb(glob))) == glob


def test_field_names_match_case_insensitively_and_unsupported_ones_are_refused() -> None:
    doc = {"name": "py", "taskTemplate": {"containerSpec": {"image": "busybox", "args": ["sleep", "1"]}},
           "mode": {"replicated": {"Replicas": 2}}}
    spec = spec_from_docker(doc)
    assert (spec.name, spec.image, spec.args, spec.replicas) == ("py", "busybox", ["sleep", "1"], 2)
    with pytest.raises(HTTPError, match="image must be provided"):
        spec_from_docker({"Name": "x", "TaskTemplate": {"ContainerSpec": {}}})
    with pytest.raises(HTTPError, match="Secrets is not supported"):
        spec_from_docker({"TaskTemplate": {"ContainerSpec": {"Image": "x", "Secrets": [{"SecretName": "s"}]}}})
    with pytest.raises(HTTPError, match="not a list of strings"):
        spec_from_docker({"TaskTemplate": {"ContainerSpec": {"Image": "x", "Env": "A=1"}}})
    with pytest.raises(HTTPError, match="not an object"):
        spec_from_docker(["x"])
