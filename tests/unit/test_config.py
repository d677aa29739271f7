"""Loading and validating syncd.toml: pure logic, no systemd needed."""

from __future__ import annotations

import grp
import pwd
import re
import socket
from pathlib import Path

import pytest

from syncd.chown import parse_owner as resolve_owner
from syncd.config import Config, load_config, parse_duration
from syncd.errors import EXIT_USAGE, ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "config-examples"

MINIMAL = """\
[repo]
path = "/opt/pipeline"

[service]
unit = "pipeline.service"
"""

FULL = """\
[repo]
path = "/opt/pipeline"
remote = "upstream"
branch = "main"
local_branch = "local"
allow_force_push = true
verify = "ssh"
allowed_signers = "/etc/syncd/allowed_signers"
committer = "Deploy Bot <deploy@example.org>"

[service]
unit = "pipeline"
scope = "user"
owner = "root:root"
dropin = "60-deploy.conf"

[env]
vars = { LOG_LEVEL = "debug", EMPTY = "" }
files = ["deploy/production.env", "./deploy/extra.env"]
secrets = ["deploy/production.env.enc"]
key = "/etc/syncd/keys/production.key"
secrets_delivery = "credentials"
required = ["DB_PASSWORD", "LOG_LEVEL"]

[health]
timeout = "2m"
settle = 10
tcp = "127.0.0.1:11112"
http = "https://localhost:8443/healthz"
command = ["/opt/pipeline/venv/bin/python", "-m", "pipeline.selfcheck"]
dicom_echo = "PIPELINE@127.0.0.1:11112"

[hooks]
pre_restart = [["venv/bin/pip", "install", "-r", "requirements.txt"], ["true"]]
post_deploy = [["logger", "deployed"]]
on_failure = []
timeout = "15m"

[schedule]
interval = 0
cron = "*/5 * * * *"
watch = false

[state]
dir = "/srv/syncd-state"
"""


def write(tmp_path: Path, text: str, name: str = "syncd.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def config_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


def test_full_config_loads_with_right_values(tmp_path):
    cfg = load_config(write(tmp_path, FULL, "pipeline.toml"))
    assert isinstance(cfg, Config)
    assert cfg.source == tmp_path / "pipeline.toml"
    assert cfg.name == "pipeline"
    assert cfg.state_dir == Path("/srv/syncd-state/pipeline")

    r = cfg.repo
    assert (r.path, r.remote, r.branch, r.local_branch) == (
        Path("/opt/pipeline"),
        "upstream",
        "main",
        "local",
    )
    assert r.allow_force_push is True
    assert r.verify == "ssh" and r.allowed_signers == Path("/etc/syncd/allowed_signers")
    assert r.committer == "Deploy Bot <deploy@example.org>"

    s = cfg.service
    assert (s.unit, s.scope, s.owner, s.dropin) == ("pipeline.service", "user", "root:root", "60-deploy.conf")

    e = cfg.env
    assert e.vars == {"LOG_LEVEL": "debug", "EMPTY": ""}
    assert e.files == ("deploy/production.env", "./deploy/extra.env")
    assert e.secrets == ("deploy/production.env.enc",)
    assert e.key == Path("/etc/syncd/keys/production.key")
    assert e.secrets_delivery == "credentials"
    assert e.required == ("DB_PASSWORD", "LOG_LEVEL")

    h = cfg.health
    assert (h.timeout, h.settle) == (120.0, 10.0)
    assert h.tcp == "127.0.0.1:11112"
    assert h.http == "https://localhost:8443/healthz"
    assert h.command == ("/opt/pipeline/venv/bin/python", "-m", "pipeline.selfcheck")
    assert h.dicom_echo == "PIPELINE@127.0.0.1:11112"

    k = cfg.hooks
    assert k.pre_restart == (("venv/bin/pip", "install", "-r", "requirements.txt"), ("true",))
    assert k.post_deploy == (("logger", "deployed"),)
    assert k.on_failure == ()
    assert k.timeout == 900.0

    assert (cfg.schedule.interval, cfg.schedule.cron, cfg.schedule.watch) == (0.0, "*/5 * * * *", False)


def test_defaults(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg.name == "syncd"
    assert cfg.repo.remote == "origin" and cfg.repo.branch == "master"
    assert cfg.repo.local_branch is None and cfg.repo.allow_force_push is False
    assert cfg.repo.verify == "none" and cfg.repo.allowed_signers is None
    assert cfg.repo.committer == f"syncd <syncd@{socket.gethostname()}>"
    assert cfg.service.scope == "system" and cfg.service.owner is None
    assert cfg.service.dropin == "50-syncd.conf"
    assert cfg.env.vars == {} and cfg.env.files == () and cfg.env.secrets == ()
    assert cfg.env.key is None and cfg.env.secrets_delivery == "environment-file" and cfg.env.required == ()
    assert (cfg.health.timeout, cfg.health.settle) == (60.0, 5.0)
    assert cfg.health.tcp is cfg.health.http is cfg.health.command is cfg.health.dicom_echo is None
    assert cfg.hooks.pre_restart == cfg.hooks.post_deploy == cfg.hooks.on_failure == ()
    assert cfg.hooks.timeout == 600.0
    assert (cfg.schedule.interval, cfg.schedule.cron, cfg.schedule.watch) == (60.0, "", True)
    assert cfg.state.dir == Path("/var/lib/syncd")
    assert cfg.state_dir == Path("/var/lib/syncd/syncd")


def test_unit_suffix_appended_and_instances_kept(tmp_path):
    for given, unit in [
        ("pipeline", "pipeline.service"),
        ("my.pipeline", "my.pipeline.service"),
        ("worker@2.service", "worker@2.service"),
        ("worker@2", "worker@2.service"),
    ]:
        cfg = load_config(write(tmp_path, MINIMAL.replace('"pipeline.service"', f'"{given}"')))
        assert cfg.service.unit == unit


def test_owner_user_only_and_resolve_owner(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL + 'owner = "root"\n'))
    assert cfg.service.owner == "root"
    assert resolve_owner("root") == (0, pwd.getpwnam("root").pw_gid)
    assert resolve_owner("root:" + grp.getgrgid(0).gr_name) == (0, 0)


def test_cron_replaces_interval(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL + '[schedule]\ncron = "0 3 * * mon-fri"\n'))
    assert cfg.schedule.cron == "0 3 * * mon-fri" and cfg.schedule.interval == 0.0


def test_sub_table_spelling_of_env_vars(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL + '[env.vars]\nGREETING = "hello world"\n'))
    assert cfg.env.vars == {"GREETING": "hello world"}


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, seconds",
    [
        (0, 0.0),
        (90, 90.0),
        (1.5, 1.5),
        ("90", 90.0),
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("250ms", 0.25),
        ("1.5s", 1.5),
        ("2d", 172800.0),
        ("1m30s", 90.0),
        (" 10s ", 10.0),
    ],
)
def test_duration_values(value, seconds):
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    [-1, -0.5, "", "abc", "5x", "s", "-5s", "1h30", "5 minutes", True, [5], float("inf"), float("nan")],
)
def test_bad_duration_values(value):
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize(
    "section, key",
    [("health", "timeout"), ("health", "settle"), ("hooks", "timeout"), ("schedule", "interval")],
)
def test_bad_duration_names_the_key(tmp_path, section, key):
    path = write(tmp_path, MINIMAL + f'[{section}]\n{key} = "soon"\n')
    err = config_error(path)
    assert f"{section}.{key}" in str(err) and str(path) in str(err) and "90s" in str(err)


# --- errors: every one names the file and the dotted key, exit status 2 --------------------------


def edit(section_text: str, old: str | None = None, new: str = "") -> str:
    """MINIMAL with `old` replaced by `new`, or with `section_text` appended."""
    if old is not None:
        assert old in MINIMAL
        return MINIMAL.replace(old, new)
    return MINIMAL + section_text


BAD = [
    # unknown sections and keys
    ("unknown section", edit("[helth]\ntimeout = 5\n"), "helth", "did you mean 'health'"),
    ("unknown key", edit("[health]\ntmeout = 5\n"), "health.tmeout", "did you mean 'timeout'"),
    (
        "unknown repo key",
        edit(None, 'path = "/opt/pipeline"', 'path = "/opt/pipeline"\nbrnach = "x"'),
        "repo.brnach",
        "allowed keys in [repo]",
    ),
    (
        "section not a table",
        "repo = 5\n" + MINIMAL.replace('[repo]\npath = "/opt/pipeline"\n', ""),
        "repo",
        "expected a table",
    ),
    # missing required keys
    ("missing repo.path", MINIMAL.replace('path = "/opt/pipeline"\n', ""), "repo.path", "missing required"),
    (
        "missing [repo]",
        MINIMAL.replace('[repo]\npath = "/opt/pipeline"\n', ""),
        "repo.path",
        "missing required",
    ),
    (
        "missing service.unit",
        MINIMAL.replace('unit = "pipeline.service"\n', ""),
        "service.unit",
        "missing required",
    ),
    # wrong types: expected and found
    ("path not string", edit(None, '"/opt/pipeline"', "42"), "repo.path", "expected a string, found integer"),
    (
        "bool as string",
        edit(None, 'path = "/opt/pipeline"', 'path = "/opt/pipeline"\nallow_force_push = "yes"'),
        "repo.allow_force_push",
        "expected a boolean, found string",
    ),
    ("int as bool", edit("[schedule]\nwatch = 1\n"), "schedule.watch", "expected a boolean, found integer"),
    ("files not array", edit('[env]\nfiles = "a.env"\n'), "env.files", "expected a array, found string"),
    ("vars not table", edit('[env]\nvars = ["A=1"]\n'), "env.vars", "found array"),
    ("date as string", edit("[state]\ndir = 2024-01-01\n"), "state.dir", "found date"),
    # repo values
    ("relative repo.path", edit(None, '"/opt/pipeline"', '"opt/pipeline"'), "repo.path", "absolute path"),
    ("repo.path is /", edit(None, '"/opt/pipeline"', '"/"'), "repo.path", "not /"),
    ("dotdot repo.path", edit(None, '"/opt/pipeline"', '"/opt/../etc"'), "repo.path", "absolute path"),
    (
        "empty remote",
        edit(None, 'path = "/opt/pipeline"', 'path = "/opt/pipeline"\nremote = ""'),
        "repo.remote",
        "must not be empty",
    ),
    (
        "branch with space",
        edit(None, 'path = "/opt/pipeline"', 'path = "/opt/pipeline"\nbranch = "my branch"'),
        "repo.branch",
        "git ref name",
    ),
    (
        "branch with ..",
        edit(None, 'path = "/opt/pipeline"', 'path = "/opt/pipeline"\nbranch = "a..b"'),
        "repo.branch",
        "'..'",
    ),
    (
        "branch leading -",
        edit(None, 'path = "/opt/pipeline"', 'path = "/opt/pipeline"\nbranch = "-f"'),
        "repo.branch",
        '"-"',
    ),
    (
        "branch .lock",
        edit(None, 'path = "/opt/pipeline"', 'path = "/opt/pipeline"\nbranch = "x.lock"'),
        "repo.branch",
        ".lock",
    ),
    (
        "local_branch ~",
        edit(None, 'path = "/opt/pipeline"', 'path = "/opt/pipeline"\nlocal_branch = "l~1"'),
        "repo.local_branch",
        "git ref name",
    ),
    (
        "local_branch empty",
        edit(None, 'path = "/opt/pipeline"', 'path = "/opt/pipeline"\nlocal_branch = ""'),
        "repo.local_branch",
        "must not be empty",
    ),
    (
        "local_branch == branch",
        edit(None, 'path = "/opt/pipeline"', 'path = "/opt/pipeline"\nlocal_branch = "master"'),
        "repo.local_branch",
        "must differ",
    ),
    (
        "verify unknown",
        edit(None, 'path = "/opt/pipeline"', 'path = "/opt/pipeline"\nverify = "pgp"'),
        "repo.verify",
        "did you mean 'gpg'",
    ),
    (
        "ssh without signers",
        edit(None, 'path = "/opt/pipeline"', 'path = "/opt/pipeline"\nverify = "ssh"'),
        "repo.allowed_signers",
        "required when",
    ),
    (
        "relative signers",
        edit(
            None,
            'path = "/opt/pipeline"',
            'path = "/opt/pipeline"\nverify = "ssh"\nallowed_signers = "signers"',
        ),
        "repo.allowed_signers",
        "absolute path",
    ),
    (
        "bad committer",
        edit(None, 'path = "/opt/pipeline"', 'path = "/opt/pipeline"\ncommitter = "syncd"'),
        "repo.committer",
        "Name <email>",
    ),
    # service values
    (
        "bad unit chars",
        edit(None, '"pipeline.service"', '"pipe line.service"'),
        "service.unit",
        "systemd service name",
    ),
    (
        "template unit",
        edit(None, '"pipeline.service"', '"worker@.service"'),
        "service.unit",
        "systemd service name",
    ),
    ("timer unit", edit(None, '"pipeline.service"', '"pipeline.timer"'), "service.unit", ".service unit"),
    ("scope", edit('scope = "global"\n'), "service.scope", "'system', 'user'"),
    ("owner unknown user", edit('owner = "no-such-user-syncd:root"\n'), "service.owner", "no user named"),
    ("owner unknown group", edit('owner = "root:no-such-group-syncd"\n'), "service.owner", "no group named"),
    ("owner shape", edit('owner = "root:"\n'), "service.owner", "user:group"),
    ("dropin suffix", edit('dropin = "50-syncd"\n'), "service.dropin", ".conf"),
    ("dropin path", edit('dropin = "../50-syncd.conf"\n'), "service.dropin", "plain file name"),
    # env values
    ("env name", edit('[env]\nvars = { "MY-VAR" = "x" }\n'), "env.vars.MY-VAR", "environment variable name"),
    ("env int value", edit("[env]\nvars = { PORT = 11112 }\n"), "env.vars.PORT", "expected a string"),
    ("env bool value", edit("[env]\nvars = { DEBUG = true }\n"), "env.vars.DEBUG", "found boolean"),
    ("env file absolute", edit('[env]\nfiles = ["/etc/passwd"]\n'), "env.files[0]", "relative to repo.path"),
    ("env file escapes", edit('[env]\nfiles = ["ok.env", "../x.env"]\n'), "env.files[1]", "stays inside"),
    ("env file not string", edit("[env]\nfiles = [1]\n"), "env.files[0]", "found integer"),
    (
        "secret escapes",
        edit('[env]\nsecrets = ["a/../../s.enc"]\nkey = "/k"\n'),
        "env.secrets[0]",
        "stays inside",
    ),
    ("secrets without key", edit('[env]\nsecrets = ["s.enc"]\n'), "env.key", "required when env.secrets"),
    ("relative key", edit('[env]\nsecrets = ["s.enc"]\nkey = "keys/k"\n'), "env.key", "absolute path"),
    ("delivery", edit('[env]\nsecrets_delivery = "file"\n'), "env.secrets_delivery", "environment-file"),
    ("required name", edit('[env]\nrequired = ["OK", "1BAD"]\n'), "env.required[1]", "environment variable"),
    ("required type", edit("[env]\nrequired = [1]\n"), "env.required[0]", "expected a string"),
    # health values
    ("zero timeout", edit("[health]\ntimeout = 0\n"), "health.timeout", "longer than 0"),
    ("tcp no port", edit('[health]\ntcp = "localhost"\n'), "health.tcp", "host:port"),
    ("tcp bad port", edit('[health]\ntcp = "localhost:70000"\n'), "health.tcp", "port 1-65535"),
    ("http scheme", edit('[health]\nhttp = "ftp://localhost/x"\n'), "health.http", "http:// or https://"),
    ("http no host", edit('[health]\nhttp = "http:///healthz"\n'), "health.http", "URL"),
    ("http bad port", edit('[health]\nhttp = "http://localhost:99999/"\n'), "health.http", "URL"),
    ("empty command", edit("[health]\ncommand = []\n"), "health.command", "non-empty list"),
    (
        "command not strings",
        edit('[health]\ncommand = ["check", 3]\n'),
        "health.command[1]",
        "expected a string",
    ),
    (
        "command string",
        edit('[health]\ncommand = "check --all"\n'),
        "health.command",
        "expected a array, found string",
    ),
    (
        "echo no AE",
        edit('[health]\ndicom_echo = "127.0.0.1:11112"\n'),
        "health.dicom_echo",
        "AETITLE@host:port",
    ),
    (
        "echo long AE",
        edit('[health]\ndicom_echo = "ABCDEFGHIJKLMNOPQ@127.0.0.1:11112"\n'),
        "health.dicom_echo",
        "1 to 16",
    ),
    ("echo empty AE", edit('[health]\ndicom_echo = "@127.0.0.1:11112"\n'), "health.dicom_echo", "1 to 16"),
    ("echo no port", edit('[health]\ndicom_echo = "PIPE@127.0.0.1"\n'), "health.dicom_echo", "host:port"),
    # hooks
    (
        "hook flat list",
        edit('[hooks]\npre_restart = ["make", "install"]\n'),
        "hooks.pre_restart[0]",
        "list of strings",
    ),
    ("hook empty argv", edit("[hooks]\npost_deploy = [[]]\n"), "hooks.post_deploy[0]", "non-empty list"),
    (
        "hook empty program",
        edit('[hooks]\non_failure = [["", "x"]]\n'),
        "hooks.on_failure[0][0]",
        "must not be empty",
    ),
    (
        "hook arg type",
        edit('[hooks]\npre_restart = [["make", 1]]\n'),
        "hooks.pre_restart[0][1]",
        "found integer",
    ),
    ("hook timeout", edit('[hooks]\ntimeout = "forever"\n'), "hooks.timeout", "not a duration"),
    # schedule and state
    ("cron fields", edit('[schedule]\ncron = "* * * *"\n'), "schedule.cron", "5-field"),
    ("cron value", edit('[schedule]\ncron = "61 * * * *"\n'), "schedule.cron", "5-field"),
    (
        "cron and interval",
        edit('[schedule]\ninterval = "5m"\ncron = "*/5 * * * *"\n'),
        "schedule.cron",
        "alternatives",
    ),
    ("state dir relative", edit('[state]\ndir = "state"\n'), "state.dir", "absolute path"),
    # python
    ("python without requirements", edit("[python]\nkeep = 2\n"), "python.requirements", "missing required"),
    (
        "requirements outside the tree",
        edit('[python]\nrequirements = "../r.txt"\n'),
        "python.requirements",
        "stays inside it",
    ),
    (
        "venv in .git",
        edit('[python]\nrequirements = "r.txt"\nvenv = ".git/venv"\n'),
        "python.venv",
        "inside .git",
    ),
    (
        "python relative",
        edit('[python]\nrequirements = "r.txt"\npython = "python3"\n'),
        "python.python",
        "absolute path",
    ),
    ("keep negative", edit('[python]\nrequirements = "r.txt"\nkeep = -1\n'), "python.keep", ">= 0"),
    (
        "keep as string",
        edit('[python]\nrequirements = "r.txt"\nkeep = "3"\n'),
        "python.keep",
        "expected a integer",
    ),
    (
        "compile as string",
        edit('[python]\nrequirements = "r.txt"\ncompile_bytecode = "yes"\n'),
        "python.compile_bytecode",
        "expected a boolean",
    ),
]


@pytest.mark.parametrize("text, key, expected", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_invalid_config_names_file_and_key(tmp_path, text, key, expected):
    path = write(tmp_path, text)
    err = config_error(path)
    assert err.exit_code == EXIT_USAGE == 2
    message = str(err)
    assert str(path) in message
    assert err.key == key and f": {key}: " in message
    assert expected in message


def test_python_defaults(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL + '\n[python]\nrequirements = "requirements.txt"\n'))
    py = cfg.python
    assert (py.requirements, py.venv, py.python, py.keep) == (
        "requirements.txt",
        "venv",
        Path("/usr/bin/python3"),
        3,
    )
    assert py.compile_bytecode is False and py.timeout == 900
    assert py.envs_dir(cfg.repo.path) == Path("/opt/pipeline.envs")
    assert load_config(write(tmp_path, MINIMAL)).python is None


def test_unknown_key_lists_what_is_allowed_and_its_line(tmp_path):
    err = config_error(write(tmp_path, MINIMAL + "\n[health]\nsettle = 1\ntmeout = 5\n"))
    assert "allowed keys in [health]: timeout, settle, tcp, http, command, dicom_echo" in str(err)
    assert "(line 9)" in str(err)


def test_type_error_points_at_the_line(tmp_path):
    err = config_error(write(tmp_path, MINIMAL + 'scope = "user"\nowner = 7\n'))
    assert err.key == "service.owner" and "(line 7)" in str(err)


def test_env_values_never_appear_in_errors(tmp_path):
    err = config_error(write(tmp_path, MINIMAL + '[env]\nvars = { DB_PASSWORD = ["hunter2"] }\n'))
    assert "env.vars.DB_PASSWORD" in str(err) and "hunter2" not in str(err)
    err = config_error(write(tmp_path, MINIMAL + '[env]\nvars = { "BAD NAME" = "hunter2" }\n'))
    assert "hunter2" not in str(err)


# --- reading the file --------------------------------------------------------------------------


def test_toml_syntax_error_names_file_line_and_column(tmp_path):
    path = write(tmp_path, MINIMAL + "[health]\ntimeout = \n")
    err = config_error(path)
    assert err.exit_code == 2
    assert str(path) in str(err) and "not valid TOML" in str(err)
    assert re.search(r"line 7, column \d+", str(err))


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    err = config_error(path)
    assert err.exit_code == 2 and str(path) in str(err) and "no such file" in str(err)


def test_directory_instead_of_file(tmp_path):
    err = config_error(tmp_path)
    assert str(tmp_path) in str(err) and "directory" in str(err)


def test_not_utf8(tmp_path):
    path = tmp_path / "syncd.toml"
    path.write_bytes(MINIMAL.encode() + b'[env]\nvars = { A = "\xff" }\n')
    err = config_error(path)
    assert str(path) in str(err) and "UTF-8" in str(err) and "line 7" in str(err)


# --- the shipped examples ------------------------------------------------------------------------
# The examples name the tutorial's owner "pipeline:pipelineadmin", which need not exist on the
# machine running the tests. Each example is loaded twice: as shipped (it loads when that user and
# group exist, and otherwise fails on service.owner and nothing else), and with the owner line
# replaced by "root:root", which must load everywhere.


def _owner_exists(owner: str) -> bool:
    try:
        resolve_owner(owner)
        return True
    except ValueError:
        return False


EXAMPLE_FILES = sorted(EXAMPLES.glob("*.toml"))


def test_examples_exist():
    assert {p.name for p in EXAMPLE_FILES} >= {"pipeline.toml", "pipeline-secrets.toml"}


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_loads(tmp_path, example):
    text = example.read_text()
    owner = re.search(r'^owner = "([^"]+)"', text, re.M)
    assert owner, "examples set service.owner"
    if _owner_exists(owner.group(1)):
        load_config(example)
    else:
        err = config_error(example)
        assert err.key == "service.owner"
    substituted = write(tmp_path, text.replace(owner.group(0), 'owner = "root:root"'), example.name)
    cfg = load_config(substituted)
    assert cfg.name == example.stem
    assert cfg.repo.path == Path("/opt/pipeline") and cfg.service.unit == "pipeline.service"


def test_pipeline_example_is_the_tutorial_setup(tmp_path):
    text = (EXAMPLES / "pipeline.toml").read_text().replace('"pipeline:pipelineadmin"', '"root:root"')
    cfg = load_config(write(tmp_path, text, "pipeline.toml"))
    assert cfg.repo.local_branch == "local"
    assert cfg.env.vars and cfg.env.files
    assert cfg.health.tcp == "127.0.0.1:104"
    # Dependencies roll back with [python], not with a pip hook into one venv (docs/python.md).
    assert cfg.hooks.pre_restart == () and cfg.python.requirements == "requirements.txt"


def test_secrets_example_has_encrypted_env_and_no_local_branch(tmp_path):
    text = (EXAMPLES / "pipeline-secrets.toml").read_text().replace('"pipeline:pipelineadmin"', '"root:root"')
    cfg = load_config(write(tmp_path, text, "pipeline-secrets.toml"))
    assert cfg.repo.local_branch is None
    assert cfg.env.secrets == ("deploy/production.env.enc",)
    assert cfg.env.key == Path("/etc/syncd/keys/production.key")
