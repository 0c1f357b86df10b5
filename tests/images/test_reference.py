"""common/reference.py against distribution/reference's behaviour."""

from __future__ import annotations

import pytest
from pallet import errors, reference

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(("given", "normalized", "familiar"), [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest"),
    ("foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest"),
    ("docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest"),
    ("localhost/foo", "localhost/foo:latest", "localhost/foo:latest"),
    ("localhost:5000/foo/bar:v1", "localhost:5000/foo/bar:v1", "localhost:5000/foo/bar:v1"),
    ("example.com/a/b/c:tag", "example.com/a/b/c:tag", "example.com/a/b/c:tag"),
    ("Example/bar", "Example/bar:latest", "Example/bar:latest"),  # uppercase first component: a domain
    ("[::1]:5000/foo", "[::1]:5000/foo:latest", "[::1]:5000/foo:latest"),
    ("foo.bar", "docker.io/library/foo.bar:latest", "foo.bar:latest"),
    ("a__b--c-d_e.f", "docker.io/library/a__b--c-d_e.f:latest", "a__b--c-d_e.f:latest"),
    ("busybox@" + D, "docker.io/library/busybox@" + D, "busybox@" + D),
    ("busybox:1@" + D, "docker.io/library/busybox@" + D, "busybox@" + D),
    ("busybox:" + "t" * 128, "docker.io/library/busybox:" + "t" * 128, "busybox:" + "t" * 128),
])
def test_normalize_and_familiar(given: str, normalized: str, familiar: str) -> None:
    assert reference.normalize(given) == normalized
    assert reference.familiar(normalized) == familiar


@pytest.mark.parametrize(("given", "message"), [
    ("", "invalid reference format"),
    ("BusyBox", "invalid reference format: repository name must be lowercase"),
    ("foo/BAR", "invalid reference format: repository name must be lowercase"),
    ("busybox:", "invalid reference format"),
    ("busybox:" + "t" * 129, "invalid reference format"),
    ("-foo", "invalid reference format"),
    ("foo___bar", "invalid reference format"),
    ("foo..bar", "invalid reference format"),
    ("foo bar", "invalid reference format"),
    ("busybox@sha256:abc", "invalid reference format"),
    ("busybox@sha256:" + "A" * 64, "invalid checksum digest format"),
    ("busybox@md5:" + "a" * 32, "unsupported digest algorithm"),
    ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
    ("a/" + "b" * 260, "must not be more than 255 characters"),
])
def test_invalid_references(given: str, message: str) -> None:
    with pytest.raises(errors.InvalidArgument) as exc:
        reference.parse_docker_ref(given)
    assert message in exc.value.message


def test_tag_targets_refuse_digests() -> None:
    with pytest.raises(errors.InvalidArgument, match="digest"):
        reference.parse_tag_target("busybox@" + D)
    assert str(reference.parse_tag_target("x/y")) == "docker.io/x/y:latest"


def test_parse_without_normalizing() -> None:
    ref = reference.parse("localhost:5000/a/b:c")
    assert (ref.domain, ref.path, ref.tag) == ("localhost:5000", "a/b", "c")
    ref = reference.parse("busybox")
    assert (ref.domain, ref.path, ref.tag) == ("", "busybox", "")


@pytest.mark.parametrize(("pattern", "name", "match"), [
    ("busybox", "docker.io/library/busybox:latest", True),
    ("busybox:latest", "docker.io/library/busybox:latest", True),
    ("busy*", "docker.io/library/busybox:1", True),
    ("busybox:1*", "docker.io/library/busybox:1.36", True),
    ("*", "docker.io/foo/bar:1", False),  # "*" does not cross "/" (path.Match)
    ("*/*", "docker.io/foo/bar:1", True),
    ("alpine", "docker.io/library/busybox:latest", False),
])
def test_reference_filter_glob(pattern: str, name: str, match: bool) -> None:
    assert reference.familiar_match(pattern, reference.parse(name)) is match
