"""Reading remote.NAME.url from .git/config without a git process: the same answer as
`git config --get`, or None (then syncd asks git) whenever the file is not plain."""

import subprocess

import pytest

from syncd.tools.git import plain_remote_url

PLAIN = [
    '[core]\n\tbare = false\n[remote "origin"]\n\turl = /srv/git/pipeline.git\n'
    "\tfetch = +refs/heads/*:refs/remotes/origin/*\n",
    '[remote "origin"]\n\turl = /first\n[remote "upstream"]\n\turl = /other\n[remote "origin"]\n\turl=/last\n',
    '[Remote "origin"]\n\tURL = ssh://git@host/x.git\n',
    '; a comment\n# another\n[remote "origin"]\n\n    url   =   file:///srv/repo.git   \n',
]
UNSURE = [
    '[remote "origin"]\n\turl = "/with space"\n',
    '[remote "origin"]\n\turl = /a # trailing comment\n',
    '[include]\n\tpath = other.conf\n[remote "origin"]\n\turl = /a\n',
    '[includeIf "gitdir:/x/"]\n\tpath = other.conf\n[remote "origin"]\n\turl = /a\n',
    '[extensions]\n\tworktreeConfig = true\n[remote "origin"]\n\turl = /a\n',
    "[remote.origin]\n\turl = /a\n",
    '[remote "origin"] url = /a\n',
    '[remote "origin"]\n\turl = /a\\\n/b\n',
    '[remote "or\\"igin"]\n\turl = /a\n',
]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_files_give_what_git_config_gives(text, tmp_path):
    path = tmp_path / "config"
    path.write_text(text)
    git = subprocess.run(
        ["git", "config", "--file", str(path), "--get", "remote.origin.url"], capture_output=True, text=True
    )
    assert plain_remote_url(text, "origin") == git.stdout.strip()


@pytest.mark.parametrize("text", UNSURE)
def test_anything_not_plain_is_left_to_git(text):
    assert plain_remote_url(text, "origin") is None


def test_no_such_remote():
    assert plain_remote_url('[remote "upstream"]\n\turl = /a\n', "origin") is None
    assert plain_remote_url('[remote "Origin"]\n\turl = /a\n', "origin") is None  # subsections keep case
