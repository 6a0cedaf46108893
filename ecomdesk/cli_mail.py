"""`ecomdesk mail test --to ADDRESS`: one test message with the shop's saved SMTP settings, so an
administrator sees at once whether alerts can go out from this machine — and, if not, what the
server said. The password comes from this machine (`ECOMDESK_SMTP_PASSWORD`, else the keyring),
exactly as a worker here would get it.

Wired into `ecomdesk.cli` (which imports this module only when `mail` runs).
"""

from __future__ import annotations

import argparse
import sys

from ecomdesk.cli import acting_services, add_acting_options, add_database_options


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `mail` command and its actions."""
    mail = sub.add_parser("mail", help="e-mail alerts: send a test message with the saved settings")
    action = mail.add_subparsers(dest="mail_command", metavar="ACTION", required=True)
    test = action.add_parser(
        "test",
        help="send one test message through the shop's SMTP server (needs integrations.manage)",
        description="Connects to the server in the shop's e-mail settings (STARTTLS, TLS or plain to "
        "localhost), logs in when a user is set — with the password from ECOMDESK_SMTP_PASSWORD or "
        "this machine's keyring — sends one message to ADDRESS and prints what the server answered.",
    )
    add_database_options(test)
    add_acting_options(test)
    test.add_argument("--to", required=True, metavar="ADDRESS", help="who gets the test message")


def run(args: argparse.Namespace) -> int:
    from ecomdesk.services.mail import SmtpProblem

    with acting_services(args) as (services, actor):
        try:
            delivery = services.mail.send_test(actor, args.to)
        except SmtpProblem as problem:
            print(f"ecomdesk: {problem.message}", file=sys.stderr)
            return 1
    login = f", signed in as {delivery.logged_in_as}" if delivery.logged_in_as else ""
    print(f"Connected to {delivery.host}:{delivery.port} ({delivery.security}){login}.")
    if delivery.greeting:
        print(f"Server: {delivery.greeting}")
    print(f"Sent a test message to {delivery.recipient}; the server answered: {delivery.reply}")
    return 0
