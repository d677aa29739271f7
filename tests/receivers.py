"""Loopback receivers for notification tests: an HTTP webhook, an SMTP relay, a peer that never answers."""

from __future__ import annotations

import email
import email.policy
import http.server
import json
import socket
import socketserver
import threading


class WebhookReceiver:
    """Collects the JSON bodies POSTed to it (with their Content-Type)."""

    def __init__(self):
        self.received: list[dict] = []
        self.content_types: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.content_types.append(self.headers.get("Content-Type", ""))
                outer.received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/s3cr3t-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """Just enough SMTP (RFC 5321) to accept mail: keeps each message, parsed."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.say("220 localhost test relay")
                sender, rcpts = "", []
                while True:
                    line = self.rfile.readline().decode(errors="replace").rstrip("\r\n")
                    if not line:
                        return
                    verb = line[:4].upper()
                    if verb in ("EHLO", "HELO"):
                        self.say("250 localhost")
                    elif verb == "MAIL":
                        sender, rcpts = line.split(":", 1)[1].strip(), []
                        self.say("250 ok")
                    elif verb == "RCPT":
                        rcpts.append(line.split(":", 1)[1].strip())
                        self.say("250 ok")
                    elif verb == "DATA":
                        self.say("354 go on")
                        data = b""
                        while not data.endswith(b"\r\n.\r\n"):
                            chunk = self.rfile.readline()
                            if not chunk:
                                return
                            data += chunk
                        raw = data[:-5].replace(b"\r\n..", b"\r\n.")
                        outer.messages.append(email.message_from_bytes(raw, policy=email.policy.default))
                        outer.envelopes.append((sender, rcpts))
                        self.say("250 queued")
                    elif verb == "QUIT":
                        self.say("221 bye")
                        return
                    else:
                        self.say("250 ok")

            def say(self, text):
                self.wfile.write(text.encode() + b"\r\n")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SilentPeer:
    """Accepts TCP connections (the kernel does, from the backlog) and never says a word."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"

    def close(self):
        self.sock.close()
