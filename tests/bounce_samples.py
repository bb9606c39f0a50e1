"""Bounce reports as mail servers send them, for tests (not a test module): a DSN written by hand the
way Postfix writes one, and DSNs and ARF reports made with the email package."""

from __future__ import annotations

from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText


def postfix_dsn(
    verp: str,
    recipient: str,
    message_id: str,
    *,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual\n"
    "    mailbox table",
) -> bytes:
    """A bounce written by hand the way Postfix writes one (folded fields, CRLF line ends)."""
    lines = f"""Return-Path: <>
Received: by mx.example.net (Postfix)
\tid 4F2A11C0042; Fri, 27 Nov 2026 12:00:05 +0000 (UTC)
Date: Fri, 27 Nov 2026 12:00:05 +0000 (UTC)
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {verp}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4F2A11C0042.1764244805/mx.example.net"
Content-Transfer-Encoding: 7bit
Message-Id: <20261127120005.4F2A11C0042@mx.example.net>

This is a MIME-encapsulated message.

--4F2A11C0042.1764244805/mx.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<{recipient}>: host mail.example.com[192.0.2.25] said: 550 5.1.1
    <{recipient}>: Recipient address rejected: User unknown (in reply to RCPT
    TO command)

--4F2A11C0042.1764244805/mx.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 4F2A11C0042
X-Postfix-Sender: rfc822; {verp}
Arrival-Date: Fri, 27 Nov 2026 12:00:04 +0000 (UTC)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mail.example.com
Diagnostic-Code: {diagnostic.format(rcpt=recipient)}

--4F2A11C0042.1764244805/mx.example.net
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Return-Path: <{verp}>
Received: from news.example.org (news.example.org [198.51.100.7])
\tby mx.example.net (Postfix) with ESMTPS id 4F2A11C0042
\tfor <{recipient}>; Fri, 27 Nov 2026 12:00:04 +0000 (UTC)
From: Kibitz <noreply@example.org>
To: {recipient}
Subject: New reply
Date: Fri, 27 Nov 2026 12:00:00 +0000
Message-ID: {message_id}

--4F2A11C0042.1764244805/mx.example.net--
"""
    return lines.replace("\n", "\r\n").encode("ascii")


def _fields(**values: str) -> Message:
    block = Message()
    for name, value in values.items():
        block[name.replace("_", "-")] = value
    return block


def original(recipient: str, message_id: str, **extra: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "Kibitz <noreply@example.org>"
    mail["To"] = recipient
    mail["Subject"] = "This week's letter"
    mail["Message-ID"] = message_id
    for name, value in extra.items():
        mail[name.replace("_", "-")] = value
    mail.set_content("Hello.\n")
    return mail


def built_dsn(to: str, recipients: list[dict[str, str]], returned: EmailMessage | None = None) -> bytes:
    """A DSN made with the email package: multipart/report, a block per recipient, the message."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "Mail Delivery Subsystem <mailer-daemon@mx.example.net>"
    report["To"] = to
    report["Subject"] = "Delivery Status Notification (Failure)"
    report.attach(MIMEText("Some recipients could not be reached.\n"))
    status = MIMEBase("message", "delivery-status")
    status.attach(
        _fields(Reporting_MTA="dns; mx.example.net", Arrival_Date="Fri, 27 Nov 2026 12:00:04 +0000")
    )
    for fields in recipients:
        status.attach(_fields(**fields))
    report.attach(status)
    if returned is not None:
        report.attach(MIMEMessage(returned))
    return report.as_bytes()


def built_arf(to: str, returned: EmailMessage, *, feedback_type: str = "abuse", **fields: str) -> bytes:
    """An abuse report (ARF) made with the email package, as a mailbox provider's feedback loop sends it."""
    report = MIMEMultipart("report", report_type="feedback-report")
    report["From"] = "Feedback Loop <fbl@mailbox.example>"
    report["To"] = to
    report["Subject"] = "FW: This week's letter"
    report.attach(MIMEText("This is an email abuse report for an email message received.\n"))
    values = {"Feedback_Type": feedback_type, "User_Agent": "ExampleFBL/1.0", "Version": "1", **fields}
    report.attach(MIMEMessage(_fields(**values), "feedback-report"))
    report.attach(MIMEMessage(returned))
    return report.as_bytes()


def nested(depth: int) -> bytes:
    """A delivery status inside ``depth`` multipart/report levels (a parser's recursion test)."""
    head = b"MIME-Version: 1.0\r\n"
    body = (
        b"Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b.c\r\nAction: failed\r\n"
    )
    for level in range(depth):
        boundary = f"b{level}".encode()
        body = (
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="'
            + boundary
            + b'"\r\n\r\n'
            b"--" + boundary + b"\r\n" + body + b"\r\n--" + boundary + b"--\r\n"
        )
    return head + body
