"""uv (the `uv` package's binary) as the environment builder, run as the tree's owner.

`uv venv` makes the environment, `uv pip install -r` fills it. The cache is shared by all
environments of a service and installs in hard-link mode, so an environment costs little more than
its directory entries and a build with a warm cache copies nothing. The index settings the server
already has for pip (pip.conf files and PIP_* variables) are mapped to uv's flags.
"""

from __future__ import annotations

import configparser
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from syncd.records import dataclass, field
from syncd.runas import Identity
from syncd.tools.owner import Result, base_env, run_bounded

_PIP_CONF_MAX = 64 * 1024


def uv_binary() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


@dataclass
class IndexSettings:
    """pip's index settings as uv command-line flags and environment variables."""

    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


class Uv:
    def __init__(
        self,
        who: Identity,
        cache: Path,
        index: IndexSettings,
        timeout: float,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.who, self.cache, self.index = who, cache, index
        self.timeout, self.should_stop = timeout, should_stop

    def env(self) -> dict[str, str]:
        return {
            **base_env(self.who),
            **self.index.env,
            "UV_CACHE_DIR": str(self.cache),
            "UV_LINK_MODE": "hardlink",
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_PROGRESS": "1",
            "NO_COLOR": "1",
        }

    def create_venv(self, path: Path, python: Path, cwd: Path) -> Result:
        return self._run(["venv", "--no-project", "--python", str(python), str(path)], cwd)

    def install(
        self, env_python: Path, requirements: Path, cwd: Path, compile_bytecode: bool = False
    ) -> Result:
        compile_args = ["--compile-bytecode"] if compile_bytecode else []
        return self._run(
            [
                "pip",
                "install",
                "--python",
                str(env_python),
                *compile_args,
                *self.index.args,
                "-r",
                str(requirements),
            ],
            cwd,
        )

    def _run(self, args: list[str], cwd: Path) -> Result:
        return run_bounded(
            self.who,
            [uv_binary(), *args],
            cwd=cwd,
            env=self.env(),
            timeout=self.timeout,
            should_stop=self.should_stop,
        )


# -- pip's settings ------------------------------------------------------------------------------


def pip_index_settings(
    owner_home: str, owner_uid: int, environ: Mapping[str, str] | None = None
) -> IndexSettings:
    """What `pip install`, run as the owner on this server, would use: pip.conf files (global, then
    the owner's, then PIP_CONFIG_FILE; [install] over [global]), then PIP_* variables over them."""
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    files = [Path("/etc/xdg/pip/pip.conf"), Path("/etc/pip.conf")]
    if environ.get("PIP_CONFIG_FILE") and environ["PIP_CONFIG_FILE"] != os.devnull:
        files.append(Path(environ["PIP_CONFIG_FILE"]))
    for path in files[:2]:
        values.update(_read_pip_conf(path, owner_uid))
    for rel in (".pip/pip.conf", ".config/pip/pip.conf"):  # the owner's: no link anywhere below its home
        values.update(_read_owners_pip_conf(Path(owner_home), rel))
    for path in files[2:]:
        values.update(_read_pip_conf(path, owner_uid))
    for name, value in environ.items():
        if name.startswith("PIP_"):
            values[_option(name[4:])] = value
    return _to_uv(values)


def _option(name: str) -> str:
    """pip's option name: `default-timeout` is an alias of `timeout`."""
    name = name.lower().replace("_", "-")
    return "timeout" if name == "default-timeout" else name


def _read_pip_conf(path: Path, owner_uid: int) -> dict[str, str]:
    """[global] then [install] of one pip.conf. Read without following a link, only a regular file
    of root or the owner, bounded: the owner's home is not root's to trust."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return {}
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid not in (0, owner_uid):
            return {}
        text = os.read(fd, _PIP_CONF_MAX).decode("utf-8", "replace")
    finally:
        os.close(fd)
    return _parse_pip_conf(text, str(path))


def _parse_pip_conf(text: str, source: str) -> dict[str, str]:
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(text, source=source)
    except configparser.Error:
        return {}
    out: dict[str, str] = {}
    for section in ("global", "install"):
        if parser.has_section(section):
            out.update({_option(k): v for k, v in parser.items(section)})
    return out


def _read_owners_pip_conf(home: Path, rel: str) -> dict[str, str]:
    from syncd import treefile

    try:
        data = treefile.read(home, rel, limit=_PIP_CONF_MAX, what="pip.conf")
    except (treefile.UnsafeTreeFile, OSError):
        return {}
    return {} if data is None else _parse_pip_conf(data.decode("utf-8", "replace"), str(home / rel))


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "yes", "true", "on")


def _to_uv(values: dict[str, str]) -> IndexSettings:
    s = IndexSettings()
    if values.get("index-url"):
        s.args += ["--default-index", values["index-url"].strip()]
    for url in values.get("extra-index-url", "").split():
        s.args += ["--index", url]
    for location in values.get("find-links", "").split():
        s.args += ["--find-links", location]
    if _truthy(values.get("no-index", "")):
        s.args.append("--no-index")
    for host in values.get("trusted-host", "").split():
        s.args += ["--allow-insecure-host", host]
    if _truthy(values.get("pre", "")):
        s.args += ["--prerelease", "allow"]
    if values.get("cert"):
        s.env["SSL_CERT_FILE"] = values["cert"].strip()
    if values.get("client-cert"):
        s.env["SSL_CLIENT_CERT"] = values["client-cert"].strip()
    timeout = values.get("timeout")
    if timeout and timeout.strip().replace(".", "", 1).isdigit():
        s.env["UV_HTTP_TIMEOUT"] = str(max(1, int(float(timeout))))
    if values.get("proxy"):
        s.env["HTTP_PROXY"] = s.env["HTTPS_PROXY"] = values["proxy"].strip()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        if name in os.environ and name not in s.env:
            s.env[name] = os.environ[name]
    return s
