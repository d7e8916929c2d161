"""The e-mail channel: SMTP with STARTTLS or implicit TLS and optional login, from configuration.

Sending is split so a failure says whether the message can have left:

- ``NotSent``: the connection, TLS or login failed, or the server answered the message with
  an error code. Nothing was accepted, so retrying cannot duplicate it.
- ``MaybeSent``: the connection broke while the message was being handed over, with no
  answer. The server may have accepted it; at-most-once means it is not retried by itself.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr

from pydantic import SecretStr

from grantflow.config import Settings


class NotSent(Exception):
    """The server did not take the message; it is safe to try again."""


class CannotConnect(NotSent):
    """Connecting, TLS or login failed: no message of the batch can go now."""


class MaybeSent(Exception):
    """The hand-over broke off without an answer; the message may have been delivered."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 25
    starttls: bool = False
    tls: bool = False
    user: str | None = None
    # a secret: hidden from repr and logs; a plain string given by a caller is wrapped
    password: SecretStr | None = field(default=None, repr=False)
    sender: str = "grantflow <noreply@localhost>"
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.password, str):
            object.__setattr__(self, "password", SecretStr(self.password))

    @classmethod
    def from_settings(cls, s: Settings) -> SmtpConfig | None:
        if not s.smtp_host:
            return None
        return cls(
            host=s.smtp_host,
            port=s.smtp_port,
            starttls=s.smtp_starttls,
            tls=s.smtp_tls,
            user=s.smtp_user,
            password=s.smtp_password,
            sender=s.smtp_sender,
            timeout=s.smtp_timeout_s,
        )

    @property
    def domain(self) -> str:
        address = parseaddr(self.sender)[1]
        return address.rpartition("@")[2] or "localhost"


def compose(
    cfg: SmtpConfig, *, to_name: str, to_email: str, lang: str, title: str, body: str, message_id: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = cfg.sender
    msg["To"] = formataddr((to_name, to_email))
    msg["Subject"] = title
    msg["Date"] = formatdate(localtime=False)
    # a stable id per delivery lets a recipient's client (and an audit) see a resend is the same message
    msg["Message-ID"] = f"<{message_id}@{cfg.domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body, charset="utf-8")
    # after set_content, which replaces every Content-* header
    msg["Content-Language"] = "zh-CN" if lang == "zh" else "en"
    return msg


class SmtpMailer:
    """One SMTP session for a batch of messages (opened lazily, closed by ``session``)."""

    def __init__(self, cfg: SmtpConfig, ssl_context: ssl.SSLContext | None = None) -> None:
        self.cfg = cfg
        self._ssl = ssl_context
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.cfg
        context = self._ssl or ssl.create_default_context()
        try:
            if cfg.tls:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=context)
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            smtp.ehlo()
            if cfg.starttls and not cfg.tls:
                smtp.starttls(context=context)
                smtp.ehlo()
            if cfg.user:
                smtp.login(cfg.user, cfg.password.get_secret_value() if cfg.password else "")
        except (smtplib.SMTPException, OSError) as exc:
            raise CannotConnect(f"SMTP {cfg.host}:{cfg.port}: {exc!r}") from exc
        return smtp

    def send(self, msg: EmailMessage) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            refused = self._smtp.send_message(msg)
        except smtplib.SMTPResponseException as exc:
            # the server answered with an error code: the message was not accepted
            self._reset_after(exc)
            raise NotSent(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            self._reset_after(exc)
            raise NotSent(f"recipients refused: {exc.recipients!r}") from exc
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._smtp = None
            raise MaybeSent(repr(exc)) from exc
        if refused:
            raise NotSent(f"recipients refused: {refused!r}")

    def _reset_after(self, exc: Exception) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            with suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
            self._smtp = None


@contextmanager
def session(cfg: SmtpConfig) -> Iterator[SmtpMailer]:
    mailer = SmtpMailer(cfg)
    try:
        yield mailer
    finally:
        mailer.close()
