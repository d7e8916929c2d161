"""A real SMTP server on loopback (aiosmtpd) for the notification tests, and the channel's own tests:
plain, STARTTLS with login, implicit TLS, and how failures are told apart (not sent / maybe sent)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from grantflow.notifications.mailer import CannotConnect, NotSent, SmtpConfig, SmtpMailer, compose


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    """What the SMTP server received, parsed."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse_next: int = 0  # answer this many DATA commands with a 451

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


class _Handler:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.inbox.refuse_next > 0:
            self.inbox.refuse_next -= 1
            return "451 4.3.0 try again later"
        self.inbox.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        self.inbox.messages.append(msg)  # type: ignore[arg-type]
        return "250 OK"


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: Inbox
    controller: Controller


def start_smtp(**kwargs: Any) -> SmtpServer:
    inbox = Inbox()
    port = free_port()
    controller = Controller(_Handler(inbox), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return SmtpServer("127.0.0.1", port, inbox, controller)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = start_smtp()
    yield server
    server.controller.stop()


@pytest.fixture
def smtp_env(smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch, home: Path) -> SmtpServer:
    """GRANTFLOW_SMTP_* pointing at the loopback server (after ``home`` has reset the settings)."""
    from grantflow.config import reset_settings

    monkeypatch.setenv("GRANTFLOW_SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("GRANTFLOW_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("GRANTFLOW_SMTP_SENDER", "重大专项办公室 <office@kw.example.cn>")
    reset_settings()
    return smtp_server


def self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1 and a client context that trusts it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = tmp_path / "cert.pem"
    key_pem = tmp_path / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_pem, key_pem)
    client = ssl.create_default_context(cafile=str(cert_pem))
    return server, client


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"grantflow" and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


def _message(cfg: SmtpConfig, n: int = 1) -> EmailMessage:
    return compose(
        cfg,
        to_name="周工",
        to_email="pi@jinghua.example.com",
        lang="zh",
        title="【grantflow】测试",
        body="正文：中期报告将于3天后截止。\n",
        message_id=f"test.{n}",
    )


def test_plain_smtp_delivers_utf8_with_headers(smtp_server: SmtpServer) -> None:
    cfg = SmtpConfig(host=smtp_server.host, port=smtp_server.port, sender="grantflow <noreply@kw.example.cn>")
    mailer = SmtpMailer(cfg)
    mailer.send(_message(cfg))
    mailer.close()
    [msg] = smtp_server.inbox.messages
    assert msg["Subject"] == "【grantflow】测试"
    assert msg["Message-ID"] == "<test.1@kw.example.cn>"
    assert msg["Content-Language"] == "zh-CN"
    assert "中期报告将于3天后截止" in msg.get_content()
    assert smtp_server.inbox.envelopes == [("noreply@kw.example.cn", ["pi@jinghua.example.com"])]


def test_starttls_with_login(tmp_path: Path) -> None:
    server_ctx, client_ctx = self_signed(tmp_path)
    server = start_smtp(tls_context=server_ctx, require_starttls=True, auth_required=True, authenticator=_authenticator)
    try:
        cfg = SmtpConfig(host=server.host, port=server.port, starttls=True, user="grantflow", password="s3cret")
        mailer = SmtpMailer(cfg, ssl_context=client_ctx)
        mailer.send(_message(cfg))
        mailer.close()
        assert len(server.inbox.messages) == 1
        wrong = SmtpConfig(host=server.host, port=server.port, starttls=True, user="grantflow", password="wrong")
        with pytest.raises(CannotConnect):
            SmtpMailer(wrong, ssl_context=client_ctx).send(_message(wrong, 2))
        no_tls = SmtpConfig(host=server.host, port=server.port, user="grantflow", password="s3cret")
        with pytest.raises(CannotConnect):
            SmtpMailer(no_tls).send(_message(no_tls, 3))
        assert len(server.inbox.messages) == 1
    finally:
        server.controller.stop()


def test_implicit_tls(tmp_path: Path) -> None:
    server_ctx, client_ctx = self_signed(tmp_path)
    server = start_smtp(ssl_context=server_ctx)
    try:
        cfg = SmtpConfig(host=server.host, port=server.port, tls=True)
        mailer = SmtpMailer(cfg, ssl_context=client_ctx)
        mailer.send(_message(cfg))
        mailer.close()
        assert [m["Subject"] for m in server.inbox.messages] == ["【grantflow】测试"]
    finally:
        server.controller.stop()


def test_refusal_is_not_sent_and_unreachable_server_cannot_connect(smtp_server: SmtpServer) -> None:
    cfg = SmtpConfig(host=smtp_server.host, port=smtp_server.port)
    smtp_server.inbox.refuse_next = 1
    mailer = SmtpMailer(cfg)
    with pytest.raises(NotSent) as refused:
        mailer.send(_message(cfg))
    assert not isinstance(refused.value, CannotConnect)
    mailer.send(_message(cfg, 2))  # the same session goes on after the refusal
    mailer.close()
    assert len(smtp_server.inbox.messages) == 1
    nobody = SmtpConfig(host="127.0.0.1", port=free_port(), timeout=2)
    with pytest.raises(CannotConnect):
        SmtpMailer(nobody).send(_message(nobody))
