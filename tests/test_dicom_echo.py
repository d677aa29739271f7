"""The stdlib C-ECHO SCU against a real DICOM peer (pynetdicom, test-only) and scripted bad peers."""

from __future__ import annotations

import socket
import struct
import threading

import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pynetdicom import AE, evt
from pynetdicom.pdu import A_ASSOCIATE_RQ
from pynetdicom.sop_class import CTImageStorage, Verification

from syncd.health import dicom
from syncd.health.dicom import EchoFailed, c_echo
from syncd.health.probes import check_dicom_echo


@pytest.fixture
def scp():
    """Start a pynetdicom SCP on 127.0.0.1 (free port); yields a starter returning (port, events)."""
    servers = []

    def start(ae_title="PIPELINE", contexts=(Verification,), require_called_aet=True, echo_status=0x0000):
        ae = AE(ae_title=ae_title)
        ae.require_called_aet = require_called_aet
        for context in contexts:
            ae.add_supported_context(context)
        events: list[str] = []
        handlers = [
            (evt.EVT_C_ECHO, lambda event: echo_status),
            (evt.EVT_RELEASED, lambda event: events.append("released")),
            (evt.EVT_ABORTED, lambda event: events.append("aborted")),
        ]
        server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
        servers.append(server)
        return server.socket.getsockname()[1], events

    yield start
    for server in servers:
        server.shutdown()


def wait_for(events, value, seconds=3.0):
    done = threading.Event()
    for _ in range(int(seconds / 0.05)):
        if value in events:
            return True
        done.wait(0.05)
    return False


# --- against a real peer -----------------------------------------------------------------------


def test_echo_succeeds_and_releases(scp):
    port, events = scp()
    c_echo("PIPELINE", "127.0.0.1", port, timeout=5)
    assert wait_for(events, "released")
    assert "aborted" not in events


def test_probe_wrapper_passes(scp):
    port, _ = scp()
    assert check_dicom_echo(f"PIPELINE@127.0.0.1:{port}", 5) is None


def test_wrong_called_ae_is_rejected(scp):
    port, _ = scp()
    with pytest.raises(EchoFailed) as failure:
        c_echo("OTHER", "127.0.0.1", port, timeout=5)
    assert (
        str(failure.value) == "association rejected by the peer (permanent: called AE title not recognized)"
    )


def test_peer_without_verification_rejects_the_context(scp):
    port, _ = scp(contexts=(CTImageStorage,))
    assert (
        check_dicom_echo(f"PIPELINE@127.0.0.1:{port}", 5)
        == "dicom echo: verification context rejected (abstract syntax not supported)"
    )


def test_non_success_status_fails(scp):
    port, _ = scp(echo_status=0x0110)
    assert check_dicom_echo(f"PIPELINE@127.0.0.1:{port}", 5) == "dicom echo: C-ECHO status 0x0110"


def test_nothing_listening_fails():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert check_dicom_echo(f"PIPELINE@127.0.0.1:{port}", 2) == "dicom echo: connection refused"


def test_malformed_target():
    assert check_dicom_echo("127.0.0.1:104", 1) == "dicom echo: malformed target"


# --- encoding, checked with independent decoders ------------------------------------------------


def test_associate_rq_decodes_with_pynetdicom():
    pdu = A_ASSOCIATE_RQ()
    pdu.decode(dicom.associate_rq("PIPELINE"))
    assert pdu.called_ae_title.strip() == "PIPELINE"
    assert pdu.calling_ae_title.strip() == "SYNCD"
    assert pdu.application_context_name == "1.2.840.10008.3.1.1.1"
    [context] = pdu.presentation_context
    assert context.context_id == 1
    assert context.abstract_syntax == "1.2.840.10008.1.1"
    assert context.transfer_syntax == ["1.2.840.10008.1.2"]


def test_c_echo_rq_command_set_decodes_with_pydicom():
    command = dicom.c_echo_rq_command(7)
    ds = read_dataset(DicomBytesIO(command), is_implicit_VR=True, is_little_endian=True)
    assert ds.CommandGroupLength == len(command) - 12  # everything after the group length element
    assert ds.AffectedSOPClassUID == "1.2.840.10008.1.1"
    assert ds.CommandField == 0x0030
    assert ds.MessageID == 7
    assert ds.CommandDataSetType == 0x0101
    assert len(command) % 2 == 0


# --- scripted misbehaving peers ----------------------------------------------------------------


def _pdu(pdu_type: int, body: bytes) -> bytes:
    return struct.pack(">BBI", pdu_type, 0, len(body)) + body


def _item(item_type: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(payload)) + payload


def _associate_ac() -> bytes:
    context = _item(0x21, bytes([1, 0, 0, 0]) + _item(0x40, b"1.2.840.10008.1.2"))
    user = _item(0x50, _item(0x51, struct.pack(">I", 16384)))
    body = (
        struct.pack(">HH", 1, 0)
        + b"PIPELINE".ljust(16)
        + b"SYNCD".ljust(16)
        + bytes(32)
        + _item(0x10, b"1.2.840.10008.3.1.1.1")
        + context
        + user
    )
    return _pdu(0x02, body)


def _echo_rsp_command(status: int) -> bytes:
    def el(element, value):
        return struct.pack("<HHI", 0, element, len(value)) + value

    body = (
        el(0x0002, b"1.2.840.10008.1.1\0")
        + el(0x0100, struct.pack("<H", 0x8030))
        + el(0x0120, struct.pack("<H", 1))
        + el(0x0800, struct.pack("<H", 0x0101))
        + el(0x0900, struct.pack("<H", status))
    )
    return el(0x0000, struct.pack("<I", len(body))) + body


def _read_pdu(conn: socket.socket) -> tuple[int, bytes]:
    header = b""
    while len(header) < 6:
        header += conn.recv(6 - len(header))
    pdu_type, _, length = struct.unpack(">BBI", header)
    body = b""
    while len(body) < length:
        body += conn.recv(length - len(body))
    return pdu_type, body


@pytest.fixture
def fake_peer():
    """A one-connection TCP peer running `script(conn)`; yields a starter returning the port."""
    threads, sockets = [], []

    def start(script):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        sockets.append(listener)

        def serve():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                try:
                    script(conn)
                except OSError:
                    pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        return listener.getsockname()[1]

    yield start
    for listener in sockets:
        listener.close()
    for thread in threads:
        thread.join(timeout=5)


def test_silent_peer_times_out(fake_peer):
    hang = threading.Event()

    def silent(conn):
        hang.wait(5)

    port = fake_peer(silent)
    try:
        with pytest.raises(EchoFailed) as failure:
            c_echo("PIPELINE", "127.0.0.1", port, timeout=0.5)
        assert str(failure.value) == "timed out waiting for the peer (association)"
    finally:
        hang.set()


def test_abort_from_peer_fails(fake_peer):
    def abort(conn):
        _read_pdu(conn)
        conn.sendall(_pdu(0x07, bytes([0, 0, 2, 2])))  # provider abort, unexpected PDU

    port = fake_peer(abort)
    assert (
        check_dicom_echo(f"PIPELINE@127.0.0.1:{port}", 3)
        == "dicom echo: association aborted by the peer (unexpected PDU)"
    )


def test_abort_after_echo_request_fails(fake_peer):
    def abort_on_echo(conn):
        _read_pdu(conn)
        conn.sendall(_associate_ac())
        _read_pdu(conn)
        conn.sendall(_pdu(0x07, bytes(4)))

    port = fake_peer(abort_on_echo)
    assert check_dicom_echo(f"PIPELINE@127.0.0.1:{port}", 3) == "dicom echo: association aborted by the peer"


def test_peer_closing_mid_association_fails(fake_peer):
    def close(conn):
        _read_pdu(conn)

    port = fake_peer(close)
    assert check_dicom_echo(f"PIPELINE@127.0.0.1:{port}", 3) == "dicom echo: peer closed the connection"


def test_fragmented_response_across_pdus_is_reassembled(fake_peer):
    received = {}

    def fragmented(conn):
        _read_pdu(conn)
        conn.sendall(_associate_ac())
        received["echo"] = _read_pdu(conn)
        command = _echo_rsp_command(0x0000)
        first, second = command[:20], command[20:]
        conn.sendall(_pdu(0x04, struct.pack(">IBB", len(first) + 2, 1, 0x01) + first))  # not last
        conn.sendall(_pdu(0x04, struct.pack(">IBB", len(second) + 2, 1, 0x03) + second))  # last
        received["release"] = _read_pdu(conn)
        conn.sendall(_pdu(0x06, bytes(4)))

    port = fake_peer(fragmented)
    c_echo("PIPELINE", "127.0.0.1", port, timeout=3)
    assert received["echo"][0] == 0x04
    assert received["release"] == (0x05, bytes(4))
