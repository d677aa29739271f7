"""chown of changed paths: real chown (as root) to a real system user, never following a link."""

from __future__ import annotations

import grp
import os
import pwd
import threading
from pathlib import Path

import pytest

from syncd.chown import ChownReport, chown_changed, parse_owner


@pytest.fixture(autouse=True)
def _as_root():
    if os.geteuid() != 0:
        pytest.fail("chown tests need root (they chown to a real system user)")


@pytest.fixture
def owner(service_user):
    return service_user.pw_uid, service_user.pw_gid


@pytest.fixture
def layout(tmp_path):
    """tree/ (the repo) and outside/ (what must never change), everything owned by root."""
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    (tree / "sub" / "deep").mkdir(parents=True)
    outside.mkdir()
    for rel in ("a.txt", "b.txt", "sub/c.txt", "sub/deep/d.txt"):
        (tree / rel).write_text(rel)
    (outside / "target.txt").write_text("not yours")
    (outside / "secret").write_text("shadow-like")
    return tree, outside


def _ids(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_uid, st.st_gid


ROOT_IDS = (0, 0)


def _assert_all_root(*paths: Path) -> None:
    for path in paths:
        assert _ids(path) == ROOT_IDS, f"{path} was changed"


def _outside_untouched(outside: Path) -> None:
    _assert_all_root(outside, *outside.iterdir())


# ---- the normal case -------------------------------------------------------------------------------


def test_changed_files_chowned_unchanged_untouched(layout, owner):
    tree, outside = layout
    report = chown_changed(tree, ["a.txt", "sub/deep/d.txt"], *owner)
    assert _ids(tree / "a.txt") == owner
    assert _ids(tree / "sub/deep/d.txt") == owner
    # the directories on the way were (possibly) created by the merge: they follow
    assert _ids(tree / "sub") == owner and _ids(tree / "sub/deep") == owner
    # not listed: untouched; the root itself: never
    _assert_all_root(tree, tree / "b.txt", tree / "sub/c.txt")
    assert report.changed == 2 and report.changed_dirs == 2
    assert (report.skipped_symlink, report.skipped_hardlink, report.missing, report.outside) == (0, 0, 0, 0)


def test_second_run_changes_nothing(layout, owner):
    tree, _ = layout
    chown_changed(tree, ["sub/c.txt"], *owner)
    again = chown_changed(tree, ["sub/c.txt", "sub/c.txt"], *owner)
    assert (again.changed, again.unchanged, again.changed_dirs) == (0, 2, 0)


def test_group_alone_differs(layout, owner):
    tree, _ = layout
    uid, gid = owner
    os.chown(tree / "a.txt", uid, 0)
    report = chown_changed(tree, ["a.txt"], uid, gid)
    assert report.changed == 1 and _ids(tree / "a.txt") == (uid, gid)


def test_bytes_paths_as_from_git_z(layout, owner):
    tree, _ = layout
    raw = "ünï cødé.txt".encode()
    (tree / os.fsdecode(raw)).write_text("x")
    report = chown_changed(tree, [raw], *owner)
    assert report.changed == 1 and _ids(tree / os.fsdecode(raw)) == owner


def test_directory_path_chowned_not_recursively(layout, owner):
    tree, _ = layout
    report = chown_changed(tree, ["sub"], *owner)  # e.g. a submodule's gitlink
    assert report.changed == 1 and _ids(tree / "sub") == owner
    _assert_all_root(tree / "sub/c.txt", tree / "sub/deep")


def test_root_given_through_a_symlink(layout, owner, tmp_path):
    tree, _ = layout
    (tmp_path / "tree-link").symlink_to(tree)  # the configured repo.path may be a link the admin made
    report = chown_changed(tmp_path / "tree-link", ["a.txt"], *owner)
    assert report.changed == 1 and _ids(tree / "a.txt") == owner
    _assert_all_root(tree, tmp_path / "tree-link")


# ---- symbolic links ---------------------------------------------------------------------------------


def test_committed_symlink_to_outside_file_leaves_target(layout, owner):
    tree, outside = layout
    (tree / "link").symlink_to(outside / "target.txt")
    (tree / "rel-link").symlink_to("../outside/target.txt")
    report = chown_changed(tree, ["link", "rel-link", "a.txt"], *owner)
    _outside_untouched(outside)
    _assert_all_root(tree / "link", tree / "rel-link")  # decided: the link itself is left too
    assert report.symlink_paths == ["link", "rel-link"]
    assert report.changed == 1


def test_symlink_to_directory_as_listed_path(layout, owner):
    tree, outside = layout
    (tree / "dirlink").symlink_to(outside)
    report = chown_changed(tree, ["dirlink"], *owner)
    _outside_untouched(outside)
    assert report.symlink_paths == ["dirlink"]


def test_symlinked_intermediate_directory_pointing_outside(layout, owner):
    tree, outside = layout
    (tree / "evil").symlink_to(outside)
    (tree / "sub" / "evil2").symlink_to(outside)
    report = chown_changed(tree, ["evil/target.txt", "sub/evil2/secret", "evil/new/deeper.txt"], *owner)
    _outside_untouched(outside)
    assert report.symlink_paths == ["evil/target.txt", "sub/evil2/secret", "evil/new/deeper.txt"]
    assert report.changed == 0


def test_symlinked_intermediate_directory_inside_tree_not_followed_either(layout, owner):
    tree, _ = layout
    (tree / "alias").symlink_to("sub")
    report = chown_changed(tree, ["alias/c.txt"], *owner)
    assert report.symlink_paths == ["alias/c.txt"]
    _assert_all_root(tree / "sub", tree / "sub/c.txt")


def test_directory_swapped_for_symlink_before_the_call(layout, owner):
    # The merge made dir/ and dir/target.txt; before syncd gets to them, dir/ is swapped
    # for a link to a directory outside holding a file of the same name.
    tree, outside = layout
    (tree / "dir").mkdir()
    (tree / "dir" / "target.txt").write_text("ours")
    paths = ["dir/target.txt"]
    os.rename(tree / "dir", tree / "dir.moved")
    (tree / "dir").symlink_to(outside)
    report = chown_changed(tree, paths, *owner)
    _outside_untouched(outside)
    _assert_all_root(tree / "dir.moved", tree / "dir.moved/target.txt")
    assert report.symlink_paths == paths


def test_swapping_race_never_reaches_outside(layout, owner):
    # A concurrent swapper flips dir/ between a real directory and a link to outside/, and
    # file.txt between a real file and a hard link to outside/secret, while we chown.
    tree, outside = layout
    (tree / "real").mkdir()
    (tree / "real" / "target.txt").write_text("ours")
    (tree / "evil").symlink_to(outside)
    (tree / "plain.txt").write_text("ours")
    os.link(outside / "secret", tree / "linked.txt")
    stop = threading.Event()

    def swapper():
        names = [("real", "evil", "dir"), ("plain.txt", "linked.txt", "file.txt")]
        while not stop.is_set():
            for first, second, live in names:
                for candidate in (first, second):
                    try:
                        os.rename(tree / candidate, tree / live)
                        os.rename(tree / live, tree / candidate)
                    except FileNotFoundError:
                        pass

    thread = threading.Thread(target=swapper)
    thread.start()
    try:
        for _ in range(3000):
            chown_changed(tree, ["dir/target.txt", "file.txt"], *owner)
    finally:
        stop.set()
        thread.join()
    _outside_untouched(outside)


# ---- hard links, special files ----------------------------------------------------------------------


def test_hard_linked_file_skipped(layout, owner):
    tree, outside = layout
    os.link(outside / "secret", tree / "innocent.txt")
    report = chown_changed(tree, ["innocent.txt", "a.txt"], *owner)
    _outside_untouched(outside)
    assert report.hardlink_paths == ["innocent.txt"] and report.changed == 1


def test_fifo_skipped(layout, owner):
    tree, _ = layout
    os.mkfifo(tree / "pipe")
    report = chown_changed(tree, ["pipe"], *owner)
    assert report.other_paths == ["pipe"] and _ids(tree / "pipe") == ROOT_IDS


# ---- paths that would leave the tree --------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "../outside/target.txt",
        "sub/../../outside/secret",
        "..",
        "/etc/passwd",
        "//etc/passwd",
        "a.txt\0",
        "",
        ".",
        "./",
        "sub/..",
    ],
)
def test_paths_leaving_the_tree_refused(layout, owner, bad):
    tree, outside = layout
    before = {p: _ids(p) for p in (Path("/etc/passwd"), tree)}
    report = chown_changed(tree, [bad], *owner)
    assert report.outside_paths == [bad] and report.changed == 0 and report.changed_dirs == 0
    _outside_untouched(outside)
    assert {p: _ids(p) for p in before} == before


def test_dot_components_stay_inside(layout, owner):
    tree, _ = layout
    report = chown_changed(tree, ["./sub//c.txt"], *owner)
    assert report.changed == 1 and _ids(tree / "sub/c.txt") == owner


# ---- missing -----------------------------------------------------------------------------------


def test_missing_paths_counted_not_errors(layout, owner):
    tree, _ = layout
    report = chown_changed(tree, ["deleted.txt", "gone/dir/x.txt", "a.txt/not-a-dir", "b.txt"], *owner)
    assert report.missing_paths == ["deleted.txt", "gone/dir/x.txt", "a.txt/not-a-dir"]
    assert report.changed == 1 and report.missing == 3
    _assert_all_root(tree / "a.txt")


def test_empty_list(layout, owner):
    tree, _ = layout
    assert chown_changed(tree, [], *owner) == ChownReport()


def test_summary_mentions_skips(layout, owner):
    tree, outside = layout
    (tree / "link").symlink_to(outside / "target.txt")
    report = chown_changed(tree, ["a.txt", "link", "gone", "../x"], *owner)
    text = report.summary()
    assert "1 changed" in text and "1 symlinks left alone" in text and "1 missing" in text
    assert "1 refused" in text


# ---- parse_owner ---------------------------------------------------------------------------------


def test_parse_owner_user_defaults_to_primary_group(service_user):
    assert parse_owner(service_user.pw_name) == (service_user.pw_uid, service_user.pw_gid)
    with pytest.raises(ValueError, match="user:group"):  # as the config says (the one parser, issue 14)
        parse_owner(service_user.pw_name + ":")


def test_parse_owner_user_and_group(service_user):
    group = grp.getgrgid(0).gr_name
    assert parse_owner(f"{service_user.pw_name}:{group}") == (service_user.pw_uid, 0)


def _unused_uid() -> int:
    return next(uid for uid in range(61234, 65000) if uid not in {p.pw_uid for p in pwd.getpwall()})


def test_parse_owner_numeric():
    assert parse_owner("0:0") == (0, 0)
    assert parse_owner("0") == (0, pwd.getpwuid(0).pw_gid)
    assert parse_owner(f"{_unused_uid()}:61235") == (_unused_uid(), 61235)


def test_parse_owner_numeric_without_passwd_entry_needs_group():
    with pytest.raises(ValueError, match="no passwd entry"):
        parse_owner(str(_unused_uid()))


@pytest.mark.parametrize(
    "owner, message",
    [
        ("", "user:group"),
        (":root", "user:group"),
        ("no-such-user-syncd", "no user named 'no-such-user-syncd'"),
        ("root:no-such-group-syncd", "no group named 'no-such-group-syncd'"),
    ],
)
def test_parse_owner_errors(owner, message):
    with pytest.raises(ValueError, match=message):
        parse_owner(owner)
