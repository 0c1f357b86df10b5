"""Docker image references, parsed exactly like distribution/reference.

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [domain "/"] path-component ["/" path-component]*
    domain     := host [":" port]          (first component with "." or ":",
                                            "localhost", or an uppercase letter)

`parse_normalized` applies Docker's defaults (docker.io, library/ for official
images); `parse_docker_ref` also adds the default tag; `familiar` turns a
normalized name back into what Docker shows (busybox:latest).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from pallet import errors

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALPHANUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = _ALPHANUM + r"(?:" + _SEPARATOR + _ALPHANUM + r")*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = r"(?:" + _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*|" + _IPV6 + r")"
_DOMAIN = _HOST + r"(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_NAME = r"(?:" + _DOMAIN + r"/)?" + _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*"

_REFERENCE_RE = re.compile(r"^(" + _NAME + r")(?::(" + _TAG + r"))?(?:@(" + _DIGEST + r"))?$")
_ANCHORED_NAME_RE = re.compile(r"^(?:(" + _DOMAIN + r")/)?(" + _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*)$")
_TAG_RE = re.compile(r"^" + _TAG + r"$")
_IDENTIFIER_RE = re.compile(r"^[a-f0-9]{64}$")
_SHORT_IDENTIFIER_RE = re.compile(r"^[a-f0-9]{1,64}$")

# go-digest's registered algorithms and their hex lengths.
_ALGORITHMS = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX_RE = re.compile(r"^[a-f0-9]+$")


def _invalid(detail: str = "") -> errors.InvalidArgument:
    return errors.InvalidArgument("invalid reference format" + (f": {detail}" if detail else ""))


def validate_digest(value: str) -> str:
    """A digest string checked like go-digest's Parse (lowercase hex of the right length)."""
    algo, sep, hexpart = value.partition(":")
    if not sep or not algo or not hexpart:
        raise errors.InvalidArgument(f"invalid digest format: {value}")
    if algo not in _ALGORITHMS:
        raise errors.InvalidArgument(f"unsupported digest algorithm: {value}")
    if len(hexpart) != _ALGORITHMS[algo]:
        raise errors.InvalidArgument(f"invalid checksum digest length: {value}")
    if not _HEX_RE.match(hexpart):
        raise errors.InvalidArgument(f"invalid checksum digest format: {value}")
    return value


def is_full_id(value: str) -> bool:
    """64 lowercase hex characters: what Docker treats as an image ID, never a name."""
    return bool(_IDENTIFIER_RE.match(value))


def is_short_id(value: str) -> bool:
    return bool(_SHORT_IDENTIFIER_RE.match(value))


@dataclass(frozen=True)
class Reference:
    """A parsed reference; `domain` is empty only for un-normalized parses."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    @property
    def familiar_name(self) -> str:
        domain, path = self.domain, self.path
        if domain == DEFAULT_DOMAIN:
            domain = ""
            rest = path.removeprefix(OFFICIAL_PREFIX)
            if path.startswith(OFFICIAL_PREFIX) and "/" not in rest:
                path = rest
        return f"{domain}/{path}" if domain else path

    def familiar(self) -> str:
        out = self.familiar_name
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    def with_tag(self, tag: str) -> Reference:
        if not _TAG_RE.match(tag):
            raise errors.InvalidArgument("invalid tag format")
        return replace(self, tag=tag)

    def with_digest(self, digest: str) -> Reference:
        return replace(self, digest=validate_digest(digest))

    def name_only(self) -> Reference:
        return Reference(self.domain, self.path)


def parse(text: str) -> Reference:
    """distribution/reference.Parse: the grammar, no defaults applied."""
    m = _REFERENCE_RE.match(text)
    if m is None:
        if text == "":
            raise _invalid("repository name must have at least one component")
        if _REFERENCE_RE.match(text.lower()):
            raise _invalid("repository name must be lowercase")
        raise _invalid()
    name, tag, digest = m.group(1), m.group(2) or "", m.group(3) or ""
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise _invalid(f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    nm = _ANCHORED_NAME_RE.match(name)
    if nm is None:  # cannot happen: the reference grammar matched
        raise _invalid()
    if digest:
        validate_digest(digest)
    return Reference(nm.group(1) or "", nm.group(2), tag, digest)


def _split_docker_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    first = name[:i] if i >= 0 else ""
    if i == -1 or (not any(c in first for c in ".:") and first != "localhost" and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, name[i + 1:]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse_normalized(text: str) -> Reference:
    """ParseNormalizedNamed: a name with Docker's default domain and library/ prefix."""
    if is_full_id(text):
        raise errors.InvalidArgument(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_docker_domain(text)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise _invalid("repository name must be lowercase")
    return parse(f"{domain}/{remainder}")


def parse_docker_ref(text: str) -> Reference:
    """ParseDockerRef: normalized, with the default tag; a digest drops any tag."""
    ref = parse_normalized(text)
    if ref.digest:
        return replace(ref, tag="")
    if not ref.tag:
        return replace(ref, tag=DEFAULT_TAG)
    return ref


def parse_tag_target(text: str) -> Reference:
    """A name to tag an image with: normalized, default tag, no digest allowed."""
    ref = parse_normalized(text)
    if ref.digest:
        raise errors.InvalidArgument("refusing to create a tag with a digest reference")
    return ref if ref.tag else replace(ref, tag=DEFAULT_TAG)


def normalize(text: str) -> str:
    """docker.io/library/busybox:latest for "busybox"."""
    return str(parse_docker_ref(text))


def familiar(text: str | Reference) -> str:
    """busybox:latest for "docker.io/library/busybox:latest"."""
    ref = text if isinstance(text, Reference) else parse_normalized(text)
    return ref.familiar()


def familiar_match(pattern: str, ref: Reference) -> bool:
    """Docker's reference filter: a glob against the familiar name or name:tag."""
    rx = re.compile(_glob_to_re(pattern))  # path.Match: "*" does not cross "/"
    candidates = [ref.familiar_name]
    if ref.tag:
        candidates.append(f"{ref.familiar_name}:{ref.tag}")
    return any(rx.fullmatch(c) for c in candidates)


def _glob_to_re(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:j]
                if body.startswith("^"):
                    body = "!" + body[1:]
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def single_reference(refs: list[Reference]) -> bool:
    """moby's isSingleReference: one tag, and any digests are of that same repository."""
    if len(refs) <= 1:
        return len(refs) == 1
    single: Reference | None = None
    canonical: set[str] = set()
    for r in refs:
        if r.digest:
            canonical.add(r.name)
        elif single is None:
            single = r
        else:
            return False
    if single is None:
        single = refs[0]
    return len(canonical) == 1 and single.name in canonical
