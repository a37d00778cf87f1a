"""``callgate auth hash|token``: make the hashes that ``[[auth.users]]`` stores.

- ``callgate auth hash`` reads a password from standard input (one line; typed without echo on
  a terminal) and prints its argon2id hash, for ``password_hash``.
- ``callgate auth token NAME`` makes a new random token for user ``NAME``, prints the token once
  (on standard output, for the user: it is not stored anywhere) and the ``token_hash`` line for
  the config (on standard error, for the admin). Rotating a token is making a new one and
  replacing the line; the old token stops working when the daemon restarts.

Nothing here talks to the daemon or writes a file; the secrets go nowhere but the terminal.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from collections.abc import Sequence

from callgate.auth import NAME_PATTERN, hash_secret, new_token

#: Shorter passwords are refused: the admin API's Basic passwords are typed by people.
MIN_PASSWORD = 12


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callgate auth",
        description="Make the argon2 hashes that [[auth.users]] stores (password_hash, "
        "token_hash). Nothing is written anywhere.",
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("hash", help="hash a password read from standard input (password_hash)")
    token = sub.add_parser("token", help="make a new random token for a user (token_hash)")
    token.add_argument("name", help="the user's name in [[auth.users]]")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.action == "hash":
        if sys.stdin.isatty():
            password = getpass.getpass("password: ")
            if getpass.getpass("again: ") != password:
                print("callgate auth: the two passwords differ", file=sys.stderr)
                return 2
        else:
            password = sys.stdin.readline().rstrip("\r\n")
        if len(password) < MIN_PASSWORD:
            print(f"callgate auth: a password needs {MIN_PASSWORD} characters", file=sys.stderr)
            return 2
        print(f'password_hash = "{hash_secret(password)}"')
        return 0
    if not re.match(NAME_PATTERN, args.name):
        print(f"callgate auth: {args.name!r} is not a user name ({NAME_PATTERN})", file=sys.stderr)
        return 2
    token = new_token(args.name)
    secret = token.rpartition(".")[2]
    print(token)
    print(
        f"# for [[auth.users]] name = {args.name!r}; give the token above to the user only:\n"
        f'token_hash = "{hash_secret(secret)}"',
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
