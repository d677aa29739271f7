"""Pure parts of syncd/tools/systemd_dbus.py: object paths and property values as systemctl prints them."""

from syncd.tools.systemd_dbus import _as_text, unit_path


def test_unit_path_escapes_as_sd_bus_path_encode():
    assert unit_path("pipeline.service") == "/org/freedesktop/systemd1/unit/pipeline_2eservice"
    assert unit_path("syncd@a-b.service") == "/org/freedesktop/systemd1/unit/syncd_40a_2db_2eservice"
    assert unit_path("0day.service") == "/org/freedesktop/systemd1/unit/_30day_2eservice"
    assert unit_path("x2.service") == "/org/freedesktop/systemd1/unit/x2_2eservice"


def test_values_print_as_systemctl_show_does():
    assert _as_text("b", True) == "yes" and _as_text("b", False) == "no"
    assert _as_text("u", 42) == "42"
    assert _as_text("ay", bytes(range(16))) == "000102030405060708090a0b0c0d0e0f"
    assert _as_text("ay", b"") == ""
    assert (
        _as_text("(uo)", (0, "/")) == "" and _as_text("(uo)", (7, "/org/freedesktop/systemd1/job/7")) == "7"
    )
    assert _as_text("(ss)", ("", "")) == ""
    assert _as_text("(ss)", ("org.freedesktop.systemd1.NoSuchUnit", "Unit x.service not found.")) == (
        'org.freedesktop.systemd1.NoSuchUnit "Unit x.service not found."'
    )
