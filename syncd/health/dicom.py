"""A minimal DICOM C-ECHO SCU (PS3.7 Verification, PS3.8 Upper Layer), standard library only.

One association, one presentation context (Verification SOP Class with Implicit VR Little Endian),
one C-ECHO, then a release. That is all a health probe needs, so syncd does not depend on a DICOM
toolkit. Failures raise EchoFailed with a short reason that names no host or value from the config.
"""

from __future__ import annotations

import socket
import struct
import time

from syncd.config.values import is_ae_title

VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
# A UUID-derived UID (root 2.25, PS3.5 B.2): needs no registered organisation root.
IMPLEMENTATION_CLASS_UID = "2.25.205977418012478519254096035917331553042"
IMPLEMENTATION_VERSION = "SYNCD"
CALLING_AE = "SYNCD"

MAX_PDU_RECEIVE = 16384  # what we tell the peer; a C-ECHO-RSP is ~100 bytes
_MAX_PDU_ACCEPT = 1 << 20  # refuse to buffer anything bigger from a confused peer
MAX_COMMAND = 65536  # a whole command set, however fragmented (a C-ECHO-RSP is ~100 bytes)

# PDU types (PS3.8 9.3)
A_ASSOCIATE_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ = 0x01, 0x02, 0x03
P_DATA_TF, A_RELEASE_RQ, A_RELEASE_RP, A_ABORT = 0x04, 0x05, 0x06, 0x07

C_ECHO_RQ, C_ECHO_RSP = 0x0030, 0x8030
NO_DATASET = 0x0101
PC_ID = 1

_PDU_NAMES = {
    1: "A-ASSOCIATE-RQ",
    2: "A-ASSOCIATE-AC",
    3: "A-ASSOCIATE-RJ",
    4: "P-DATA-TF",
    5: "A-RELEASE-RQ",
    6: "A-RELEASE-RP",
    7: "A-ABORT",
}

# A-ASSOCIATE-RJ (PS3.8 9.3.4): source -> reason -> text
_RJ_REASONS = {
    1: {
        1: "no reason given",
        2: "application context not supported",
        3: "calling AE title not recognized",
        7: "called AE title not recognized",
    },
    2: {1: "no reason given", 2: "protocol version not supported"},
    3: {1: "temporary congestion", 2: "local limit exceeded"},
}
_RJ_SOURCES = {1: "by the peer", 2: "by the peer's ACSE", 3: "by the peer's presentation layer"}
# Presentation context result in A-ASSOCIATE-AC (PS3.8 9.3.3.2)
_PC_RESULTS = {
    1: "user rejection",
    2: "no reason",
    3: "abstract syntax not supported",
    4: "transfer syntaxes not supported",
}
_ABORT_REASONS = {
    0: "reason not specified",
    1: "unrecognized PDU",
    2: "unexpected PDU",
    4: "unrecognized PDU parameter",
    5: "unexpected PDU parameter",
    6: "invalid PDU parameter",
}


class EchoFailed(Exception):
    """The peer did not answer a C-ECHO with success; str() is a short, loggable reason."""


class _PeerEnded(EchoFailed):
    """The peer already ended the association (A-ASSOCIATE-RJ, A-ABORT): no abort to send."""


# --- encoding ----------------------------------------------------------------------------------


def _item(item_type: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(payload)) + payload


def _pdu(pdu_type: int, payload: bytes) -> bytes:
    return struct.pack(">BBI", pdu_type, 0, len(payload)) + payload


def _ae(title: str) -> bytes:
    return title.encode("ascii").ljust(16, b" ")


def associate_rq(called_ae: str, calling_ae: str = CALLING_AE) -> bytes:
    presentation_context = _item(
        0x20,
        struct.pack(">BBBB", PC_ID, 0, 0, 0)
        + _item(0x30, VERIFICATION_SOP_CLASS.encode())
        + _item(0x40, IMPLICIT_VR_LITTLE_ENDIAN.encode()),
    )
    user_information = _item(
        0x50,
        _item(0x51, struct.pack(">I", MAX_PDU_RECEIVE))
        + _item(0x52, IMPLEMENTATION_CLASS_UID.encode())
        + _item(0x55, IMPLEMENTATION_VERSION.encode()),
    )
    body = (
        struct.pack(">HH", 1, 0)
        + _ae(called_ae)
        + _ae(calling_ae)
        + bytes(32)
        + _item(0x10, APPLICATION_CONTEXT.encode())
        + presentation_context
        + user_information
    )
    return _pdu(A_ASSOCIATE_RQ, body)


def _element(element: int, value: bytes) -> bytes:
    """One group-0000 element, Implicit VR Little Endian (commands are always encoded so)."""
    return struct.pack("<HHI", 0x0000, element, len(value)) + value


def _us(value: int) -> bytes:
    return struct.pack("<H", value)


def c_echo_rq_command(message_id: int) -> bytes:
    uid = VERIFICATION_SOP_CLASS.encode()
    uid += b"\0" * (len(uid) % 2)  # UI values are padded to even length with NUL
    body = (
        _element(0x0002, uid)
        + _element(0x0100, _us(C_ECHO_RQ))
        + _element(0x0110, _us(message_id))
        + _element(0x0800, _us(NO_DATASET))
    )
    return _element(0x0000, struct.pack("<I", len(body))) + body


def p_data_command(command: bytes) -> bytes:
    # message control header 0x03: command fragment, last fragment
    return _pdu(P_DATA_TF, struct.pack(">IBB", len(command) + 2, PC_ID, 0x03) + command)


RELEASE_RQ = _pdu(A_RELEASE_RQ, bytes(4))


def _abort() -> bytes:
    return _pdu(A_ABORT, bytes(4))  # source 0: service user, reason 0


# --- decoding ----------------------------------------------------------------------------------


def parse_command_set(data: bytes) -> dict[int, bytes]:
    """Group-0000 element number -> raw value."""
    elements: dict[int, bytes] = {}
    offset = 0
    while offset + 8 <= len(data):
        group, element, length = struct.unpack_from("<HHI", data, offset)
        offset += 8
        if group != 0 or offset + length > len(data):
            raise EchoFailed("malformed command set in C-ECHO-RSP")
        elements[element] = data[offset : offset + length]
        offset += length
    return elements


def _items(data: bytes):
    offset = 0
    while offset + 4 <= len(data):
        item_type, _, length = struct.unpack_from(">BBH", data, offset)
        yield item_type, data[offset + 4 : offset + 4 + length]
        offset += 4 + length


def check_associate_ac(body: bytes) -> None:
    """Raise unless our presentation context was accepted with Implicit VR Little Endian."""
    for item_type, payload in _items(body[68:]):  # after version, reserved, AE titles, reserved
        if item_type != 0x21 or len(payload) < 4 or payload[0] != PC_ID:
            continue
        result = payload[2]
        if result != 0:
            raise EchoFailed(f"verification context rejected ({_PC_RESULTS.get(result, f'result {result}')})")
        syntaxes = [p for t, p in _items(payload[4:]) if t == 0x40]
        if syntaxes and syntaxes[0].rstrip(b"\0 ").decode("ascii", "replace") != IMPLICIT_VR_LITTLE_ENDIAN:
            raise EchoFailed("peer accepted an unexpected transfer syntax")
        return
    raise EchoFailed("peer answered without the verification context")


def describe_reject(body: bytes) -> str:
    result, source, reason = body[1], body[2], body[3]
    kind = {1: "permanent", 2: "transient"}.get(result, f"result {result}")
    why = _RJ_REASONS.get(source, {}).get(reason, f"reason {reason}")
    return f"association rejected {_RJ_SOURCES.get(source, 'by the peer')} ({kind}: {why})"


def describe_abort(body: bytes) -> str:
    source, reason = (body[2], body[3]) if len(body) >= 4 else (0, 0)
    if source == 2:
        return f"association aborted by the peer ({_ABORT_REASONS.get(reason, f'reason {reason}')})"
    return "association aborted by the peer"


# --- the conversation --------------------------------------------------------------------------


class _Connection:
    def __init__(self, sock: socket.socket, deadline: float):
        self.sock, self.deadline, self.buffer = sock, deadline, b""

    def send(self, data: bytes) -> None:
        self._arm()
        self.sock.sendall(data)

    def _arm(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout()
        self.sock.settimeout(remaining)

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._arm()
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EchoFailed("peer closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def receive_pdu(self) -> tuple[int, bytes]:
        pdu_type, _, length = struct.unpack(">BBI", self._read(6))
        if pdu_type not in _PDU_NAMES:
            raise EchoFailed(f"peer sent an unknown PDU type 0x{pdu_type:02x}")
        if length > _MAX_PDU_ACCEPT:
            raise EchoFailed("peer sent an oversized PDU")
        return pdu_type, self._read(length)


def _expect_association(conn: _Connection) -> None:
    pdu_type, body = conn.receive_pdu()
    if pdu_type == A_ASSOCIATE_RJ:
        raise _PeerEnded(describe_reject(body))
    if pdu_type == A_ABORT:
        raise _PeerEnded(describe_abort(body))
    if pdu_type != A_ASSOCIATE_AC:
        raise EchoFailed(f"peer answered A-ASSOCIATE-RQ with {_PDU_NAMES[pdu_type]}")
    check_associate_ac(body)


def _receive_command(conn: _Connection) -> bytes:
    """Collect command fragments (they may span PDVs and PDUs) up to the last one."""
    command = b""
    while True:
        pdu_type, body = conn.receive_pdu()
        if pdu_type == A_ABORT:
            raise _PeerEnded(describe_abort(body))
        if pdu_type != P_DATA_TF:
            raise EchoFailed(f"peer answered C-ECHO-RQ with {_PDU_NAMES[pdu_type]}")
        offset = 0
        while offset + 6 <= len(body):
            length, _pc, header = struct.unpack_from(">IBB", body, offset)
            if header & 0x01:  # a command fragment (a data set would be a peer's mistake: ignored)
                command += body[offset + 6 : offset + 4 + length]
                if len(command) > MAX_COMMAND:  # the peer is the service: its answers are bounded
                    raise EchoFailed(f"peer sent a command set larger than {MAX_COMMAND} bytes")
                if header & 0x02:  # last fragment
                    return command
            offset += 4 + length


def _expect_echo_success(conn: _Connection, message_id: int) -> None:
    fields = parse_command_set(_receive_command(conn))
    field = struct.unpack("<H", fields.get(0x0100, b"\0\0")[:2])[0]
    if field != C_ECHO_RSP:
        raise EchoFailed(f"peer answered with command 0x{field:04x}, not C-ECHO-RSP")
    if 0x0120 in fields and struct.unpack("<H", fields[0x0120][:2])[0] != message_id:
        raise EchoFailed("C-ECHO-RSP answers another message")
    if 0x0900 not in fields:
        raise EchoFailed("C-ECHO-RSP without status")
    status = struct.unpack("<H", fields[0x0900][:2])[0]
    if status != 0x0000:
        raise EchoFailed(f"C-ECHO status 0x{status:04x}")


def _release(conn: _Connection) -> None:
    """Best effort: the peer has answered the echo; a sloppy release is not a health problem."""
    try:
        conn.send(RELEASE_RQ)
        conn.receive_pdu()  # normally A-RELEASE-RP
    except (OSError, EchoFailed, struct.error):
        pass


def c_echo(
    called_ae: str, host: str, port: int, *, timeout: float = 5.0, calling_ae: str = CALLING_AE
) -> None:
    """Associate, C-ECHO, release. Returns on Status 0x0000; raises EchoFailed otherwise."""
    if not is_ae_title(called_ae) or not is_ae_title(calling_ae):
        raise EchoFailed("invalid AE title")
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        raise EchoFailed("connection refused") from None
    except socket.timeout:
        raise EchoFailed("timed out connecting") from None
    except OSError as e:
        raise EchoFailed(f"cannot connect: {e.strerror or type(e).__name__}") from None
    with sock:
        conn = _Connection(sock, deadline)
        stage = "association"
        try:
            conn.send(associate_rq(called_ae, calling_ae))
            _expect_association(conn)
            stage = "C-ECHO"
            message_id = 1
            conn.send(p_data_command(c_echo_rq_command(message_id)))
            _expect_echo_success(conn, message_id)
        except _PeerEnded as e:
            raise EchoFailed(str(e)) from None
        except EchoFailed:
            _try_abort(sock)
            raise
        except socket.timeout:
            _try_abort(sock)
            raise EchoFailed(f"timed out waiting for the peer ({stage})") from None
        except struct.error:
            _try_abort(sock)
            raise EchoFailed(f"malformed PDU from the peer ({stage})") from None
        except OSError as e:
            raise EchoFailed(f"connection lost ({stage}): {e.strerror or type(e).__name__}") from None
        _release(conn)


def _try_abort(sock: socket.socket) -> None:
    try:
        sock.settimeout(0.5)
        sock.sendall(_abort())
    except OSError:
        pass
