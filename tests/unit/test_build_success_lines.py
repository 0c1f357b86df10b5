"""The classic builder's closing lines, shared by palletctl build and the Docker API's /build."""

from __future__ import annotations

from pallet.client._build import success_lines


def test_success_lines_name_tags_as_docker_does() -> None:
    assert success_lines("sha256:" + "ab" * 32, ["web", "reg:5000/team/app:2", "docker.io/library/busybox"]) == [
        "Successfully built " + "ab" * 6,
        "Successfully tagged web:latest",
        "Successfully tagged reg:5000/team/app:2",
        "Successfully tagged busybox:latest",
    ]
    assert success_lines("cd" * 32, []) == ["Successfully built " + "cd" * 6]
