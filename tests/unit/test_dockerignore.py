""".dockerignore reading and matching, against moby/patternmatcher's and ignorefile's test tables."""

from __future__ import annotations

import pytest
from pallet import errors
from pallet.dockerignore import DockerignoreError, Matcher, go_clean, load, parse

# (pattern, path, excluded) - patternmatcher's TestMatches, checked with MatchesOrParentMatches
# (a path is excluded when the pattern matches it or one of its parent directories).
MATCHES = [
    ("**", "file", True),
    ("**", "file/", True),
    ("**/", "file", True),
    ("**/", "file/", True),
    ("**", "/", True),
    ("**/", "/", True),
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("**/**", "dir/file", True),
    ("**/**", "dir/file/", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/dir2/file", True),
    ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**file", "file", True),
    ("**file", "dir/file", True),
    ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True),
    ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\\\", "a\\", True),
    ("a\\*b", "a*b", True),
    # Go's filepath.Match table, as patternmatcher's TestMatch runs it
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", True),  # through the parent "ab"
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "ab", False),
    ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False),
    ("[a-ζ]*", "α", True),
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    ("*x", "xxx", True),
    # more: classes, escapes, cleaning, Docker's shortcuts
    ("[a-c]", "b", True),
    ("[a-c]", "d", False),
    ("[a-c]x", "bx", True),
    ("[^a-c]x", "bx", False),
    ("[!a]", "!", True),  # "!" negates only in shells: Go's classes use "^"
    ("[!a]", "b", False),
    ("[*]", "*", True),
    ("[*]", "x", False),
    ("a\\?", "a?", True),
    ("a\\?", "ab", False),
    ("\\d", "d", True),
    ("\\[x]", "[x]", True),
    ("a^b", "a^b", True),
    ("a^b*", "a^bc", True),
    ("**foo", "xfoo", True),  # "**" then literal text: a suffix
    ("**/foo", "xfoo", False),
    ("foo**", "foobar/baz", True),  # literal text then "**": a prefix
    ("/a/b", "a/b", True),
    ("./a", "a", True),
    ("a/../b", "b", True),
    ("a/", "a", True),
    ("a/", "a/x/y", True),
    ("*.md", "docs/x.md", False),  # "*" stays in its directory
    ("**/*.md", "docs/x.md", True),
    ("**/*.go", "a/b/c.go", True),
    ("**/*.go", "c.go", True),
    ("**/*.go", "a/c.go/x", True),  # a directory named c.go
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("a/**/b", "a/x/y/c", False),
    ("a**b", "a/x/b", True),
    ("a**b", "axb", False),
    ("*", ".", False),  # the context itself is never excluded
]


@pytest.mark.parametrize(("pattern", "path", "excluded"), MATCHES)
def test_single_pattern(pattern: str, path: str, excluded: bool) -> None:
    m = Matcher(parse(pattern.encode()))
    assert m.excluded(path) is excluded
    if go_clean(path) != ".":
        assert m.decide(m.hits(go_clean(path))) is excluded


MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["!fileutils.go", "*.go"], "fileutils.go", True),
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["docs", "!docs/README.md"], "docs/other.md", True),
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md"], "CHANGES.md", True),
    (["*.md", "!README.md"], "sub/README.md", False),  # "*.md" does not reach into sub/
    (["**/*.md", "!README.md"], "sub/README.md", True),
    (["**/*.md", "!**/README.md"], "sub/README.md", False),
    (["a/**", "!a/b"], "a/b/c", False),
    (["a/**", "!a/b"], "a/c", True),
    (["a", "!a/b", "a/b/c"], "a/b/c", True),
    (["a", "!a/b", "a/b/c"], "a/b/d", False),
    (["!a", "a"], "a/x", True),
    (["a", "!a"], "a/x", False),
    # the last matching pattern wins, also when it matches through a parent directory
    (["d/f", "!d"], "d/f", False),
    ([], "anything", False),
]


@pytest.mark.parametrize(("patterns", "path", "excluded"), MULTI)
def test_pattern_lists(patterns: list[str], path: str, excluded: bool) -> None:
    assert Matcher(patterns).excluded(path) is excluded


@pytest.mark.parametrize("pattern", [
    "[", "[^", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[-x]", "[a-b-c]", "\\", "a\\", "[a", "[a-", "[\\",
    "[z-a]", "[Local-Only]/", "**[",
])
def test_invalid_patterns(pattern: str) -> None:
    with pytest.raises(DockerignoreError) as info:
        Matcher(["ok", pattern])
    assert str(info.value) == f'syntax error in pattern "{pattern}"'
    assert isinstance(info.value, errors.InvalidArgument)


@pytest.mark.parametrize("line", ["!", "! ", "!/"])
def test_lone_exclamation(line: str) -> None:
    with pytest.raises(DockerignoreError, match='illegal exclusion pattern: "!"'):
        Matcher(parse(line.encode()))


def test_parse_like_ignorefile_readall() -> None:
    content = b"test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! "
    assert parse(content) == ["test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path", "!", "!"]


def test_parse_details() -> None:
    data = ("\ufeff*.tmp\r\n  # not a comment  \n#comment\n\t\n./a/./b/\n/\n//x\n!./c/../d\n!  e \n"
            "a/../..\nlast").encode()
    assert parse(data) == ["*.tmp", "# not a comment", "a/b", "/", "x", "!d", "!e", "..", "last"]
    assert parse(b"") == []
    assert parse(b"\n\n") == []
    assert parse(b"x\xff\n") == ["x\udcff"]  # undecodable bytes survive


def test_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert load(str(tmp_path / "missing")) == []
    f = tmp_path / ".dockerignore"
    f.write_text("node_modules\n!keep\n")
    assert load(str(f)) == ["node_modules", "!keep"]
    with pytest.raises(DockerignoreError, match="error reading .dockerignore"):
        load(str(tmp_path))


def test_shortcut_kinds() -> None:
    # "a/**" matches below "a" only, so the directory itself stays (empty) in the context
    m = Matcher(["a/**"])
    assert not m.excluded("a", True)
    assert m.excluded("a/b")
    assert Matcher(["**"]).excluded("x/y")
    assert Matcher(["**"]).excluded(".hidden")


def test_hits_with_parent_results_agree() -> None:
    m = Matcher(["*.md", "!README.md", "build", "!build/keep/**", "**/*.o", "docs/*/x"])
    for path in ["a", "a/b", "a/b/c.o", "build", "build/keep", "build/keep/z", "build/z", "docs/q/x/y", "README.md"]:
        parts = path.split("/")
        hits = (False,) * len(m.patterns)
        for k in range(1, len(parts) + 1):
            hits = m.hits("/".join(parts[:k]), hits)
        assert hits == m.hits(path), path
        assert m.decide(hits) == m.excluded(path), path


def test_can_skip_dir() -> None:
    m = Matcher(["node_modules", "build", "!build/keep.txt", "docs"])
    assert m.can_skip_dir("node_modules")
    assert m.can_skip_dir("docs")
    assert not m.can_skip_dir("build")  # build/keep.txt comes back
    assert not m.can_skip_dir("src")  # not excluded
    assert not m.may_reinclude_below("buildx")

    # an exception ending in /** or /* is still a plain prefix
    m = Matcher(["*", "!src/**"])
    assert not m.can_skip_dir("src")
    assert m.can_skip_dir("vendor")

    # a wildcard exception could match anywhere: nothing excluded is skipped
    m = Matcher(["*", "!**/*.go"])
    assert m.excluded("vendor", True)
    assert not m.can_skip_dir("vendor")
    assert not m.excluded("vendor/x/y.go")

    assert Matcher(["a"]).can_skip_dir("a")
    assert not Matcher(["a"]).has_exceptions
    assert not Matcher([])


def test_patterns_are_cleaned() -> None:
    assert Matcher(["  a/b/ ", "", "!./c", "x/../y"]).patterns == ["a/b", "!c", "y"]
