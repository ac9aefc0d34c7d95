"""Workspace names and file operations: nothing escapes the workspace directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.sandbox.interface import WorkspaceError
from app.sandbox.workspace import Workspaces, split_path, validate_workspace_id


@pytest.fixture
def spaces(tmp_path: Path) -> Workspaces:
    return Workspaces(tmp_path / "ws", max_file_bytes=1024, owner=None)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "/etc/passwd",
        "..",
        "../x",
        "a/../../x",
        "a/./b",
        "a//b",
        "a/",
        "nul\x00byte",
        "line\nbreak",
        "del\x7f",
        "back\\slash",
        "x" * 256,
        "/".join(["d"] * 600),
        ".nox-upload-1234",
    ],
)
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(WorkspaceError) as caught:
        split_path(name)
    assert caught.value.kind == "invalid"


@pytest.mark.parametrize("name", ["a.txt", "dir/sub/file.py", ".hidden", "ünï cödé.txt", "x" * 255])
def test_good_names_are_split(name: str) -> None:
    assert "/".join(split_path(name)) == name


@pytest.mark.parametrize(
    "ws", ["../1", "1/2", "abc", "", "1" * 21, "DEADBEEF-0000-0000-0000-000000000000"]
)
def test_bad_workspace_ids_are_refused(ws: str) -> None:
    with pytest.raises(WorkspaceError):
        validate_workspace_id(ws)


def test_uuid_and_digit_workspace_ids_are_accepted() -> None:
    assert validate_workspace_id("42") == "42"
    uid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert validate_workspace_id(uid) == uid


def test_write_read_list_delete_round_trip(spaces: Workspaces) -> None:
    info = spaces.write("1", "dir/a.txt", b"hello")
    assert (info.path, info.size) == ("dir/a.txt", 5)
    spaces.write("1", "b.txt", b"xy")
    assert spaces.read("1", "dir/a.txt") == b"hello"
    assert [f.path for f in spaces.list("1")] == ["b.txt", "dir/a.txt"]
    assert [f.path for f in spaces.list("1", prefix="dir/")] == ["dir/a.txt"]
    assert spaces.usage("1").model_dump() == {"bytes": 7, "files": 2}
    spaces.delete("1", "dir/a.txt")
    with pytest.raises(WorkspaceError) as caught:
        spaces.read("1", "dir/a.txt")
    assert caught.value.kind == "not_found"


def test_workspaces_do_not_share_files(spaces: Workspaces) -> None:
    spaces.write("1", "secret.txt", b"one")
    assert spaces.list("2") == []
    with pytest.raises(WorkspaceError):
        spaces.read("2", "secret.txt")


def test_oversized_upload_is_refused(spaces: Workspaces) -> None:
    with pytest.raises(WorkspaceError) as caught:
        spaces.write("1", "big", b"x" * 1025)
    assert caught.value.kind == "too_large"


def test_symlink_to_host_file_is_not_read_overwritten_or_deleted_through(
    spaces: Workspaces, tmp_path: Path
) -> None:
    host = tmp_path / "host-secret"
    host.write_bytes(b"do not leak")
    ws = spaces.ensure("1")
    (ws / "link").symlink_to(host)
    with pytest.raises(WorkspaceError):
        spaces.read("1", "link")
    spaces.write("1", "link", b"replaced")
    assert host.read_bytes() == b"do not leak"
    assert not (ws / "link").is_symlink()
    (ws / "link2").symlink_to(host)
    spaces.delete("1", "link2")
    assert host.read_bytes() == b"do not leak"


def test_symlinked_directory_is_never_traversed(spaces: Workspaces, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_bytes(b"host")
    ws = spaces.ensure("1")
    (ws / "root").symlink_to("/")
    (ws / "out").symlink_to(outside)
    for name in ("out/f", "root/etc/passwd"):
        with pytest.raises(WorkspaceError):
            spaces.read("1", name)
        with pytest.raises(WorkspaceError):
            spaces.write("1", name, b"x")
        with pytest.raises(WorkspaceError):
            spaces.delete("1", name)
    assert (outside / "f").read_bytes() == b"host"
    assert spaces.list("1") == []


def test_fifo_is_refused_without_blocking(spaces: Workspaces) -> None:
    ws = spaces.ensure("1")
    os.mkfifo(ws / "pipe")
    with pytest.raises(WorkspaceError):
        spaces.read("1", "pipe")


def test_directory_cannot_be_overwritten_or_deleted_as_a_file(spaces: Workspaces) -> None:
    spaces.write("1", "d/f", b"x")
    with pytest.raises(WorkspaceError):
        spaces.write("1", "d", b"x")
    with pytest.raises(WorkspaceError):
        spaces.delete("1", "d")
    assert [f.path for f in spaces.list("1")] == ["d/f"]


LISTED = ["a.txt", "ab.txt", "a/x", "a/y/z", "ab/q", "b/c/d", "b/cc", "c", "dir/sub/f.py", "dir/s"]


@pytest.mark.parametrize(
    "prefix",
    [
        "",
        "a",
        "a/",
        "a/y",
        "a/y/",
        "ab",
        "b/c",
        "b/c/",
        "b/cc",
        "dir/s",
        "dir/sub/",
        "zz",
        "zz/",
        "link/",
        "link/passwd",
        "a//x",
        "../",
        "./a",
        "a.txt",
        "c/",
    ],
)
def test_a_listing_by_prefix_finds_what_a_full_walk_and_filter_finds(
    spaces: Workspaces, prefix: str
) -> None:
    for name in LISTED:
        spaces.write("1", name, b"x")
    os.symlink("/etc", spaces.root / "1" / "link")  # never followed: lists nothing
    expected = sorted(name for name in LISTED if name.startswith(prefix))
    assert [f.path for f in spaces.list("1", prefix)] == expected
