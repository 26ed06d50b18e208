"""Who may log in to `make serve`: the users' file its login checks (TASKLINE_PASSWORD_FILE), `user:bcrypt-hash`.

    python -m orchestration.serve.users add NAME [--role viewer|operator]   # asks for the password twice (or
                                                                      # reads one line from stdin)
    python -m orchestration.serve.users role NAME viewer|operator
    python -m orchestration.serve.users remove NAME

Viewers see the UI, its runs and the dbt docs and can change nothing; operators launch, cancel and delete runs,
turn schedules on and off. Adding a user who exists changes their password (and their role, when given). The password is never an argument (it would show in `ps`).
The file is created readable by its owner only; `make serve` takes it again (users, passwords, roles) when it
changes, so changes apply at once.
"""

import argparse
import getpass
import os
import sys
from pathlib import Path

import bcrypt

from orchestration import settings
from orchestration.serve.proxy import DEFAULT_ROLE, ROLES, USER_NAME, Account, ProxyError, read_users

# 2^10 bcrypt rounds: slow enough against guessing, quick enough that a login's check (once: Caddy caches it)
# goes unnoticed (`make bench` times it)
BCRYPT_COST = 10


def password_from_user(name: str) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass(f"password for {name}: ")
    if getpass.getpass("again: ") != password:
        raise ProxyError("the two passwords differ: nothing changed.")
    return password


def write_users(password_file: Path, users: dict[str, Account]) -> None:
    """The whole file at once (a reader sees the old file or the new one), readable by its owner only."""
    password_file.parent.mkdir(parents=True, exist_ok=True)
    staged = password_file.with_name(f".{password_file.name}.new")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.writelines(account.line(name) for name, account in users.items())
    staged.replace(password_file)


def add(password_file: Path, name: str, password: str, role: str | None = None) -> None:
    if not USER_NAME.fullmatch(name):
        raise ProxyError(
            f"the user name {name!r} is not 1-64 letters, digits and ._@+- (no ':' or spaces): choose another."
        )
    if len(password) < 12:
        raise ProxyError("the password is shorter than 12 characters: choose a longer one.")
    users = read_users(password_file) if password_file.exists() else {}
    kept_role = users[name].role if name in users else DEFAULT_ROLE
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()
    write_users(password_file, {**users, name: Account(hashed, role or kept_role)})


def change_role(password_file: Path, name: str, role: str) -> None:
    users = read_users(password_file)
    if name not in users:
        raise ProxyError(
            f"{password_file} has no user {name}: add them with `make user NAME={name} ROLE={role}`."
        )
    write_users(password_file, {**users, name: Account(users[name].hashed, role)})


def remove(password_file: Path, name: str) -> None:
    users = read_users(password_file)
    if name not in users:
        raise ProxyError(f"{password_file} has no user {name}: nothing changed.")
    del users[name]
    if not users:
        raise ProxyError(f"{name} is the last user of {password_file}: add another before removing them.")
    write_users(password_file, users)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=("add", "role", "remove"))
    parser.add_argument("name")
    parser.add_argument("role", nargs="?", choices=ROLES, help="with `role`: the user's new role")
    parser.add_argument(
        "--role", dest="given_role", choices=ROLES, help="with `add`: the role (default viewer)"
    )
    args = parser.parse_args()
    given = settings.read(settings.PASSWORD_FILE)
    try:
        if not given:
            raise ProxyError(f"set {settings.PASSWORD_FILE} to the users' file (e.g. /etc/taskline/users).")
        password_file = Path(given).expanduser().resolve()
        if args.action == "add":
            add(password_file, args.name, password_from_user(args.name), args.given_role)
        elif args.action == "role":
            if args.role is None:
                raise ProxyError(f"give the role: `role {args.name} viewer` or `role {args.name} operator`.")
            change_role(password_file, args.name, args.role)
        else:
            remove(password_file, args.name)
    except ProxyError as error:
        sys.exit(f"taskline users: {error}")
    done = {"add": "added or changed", "role": f"now {args.role}", "remove": "removed"}[args.action]
    print(f"{args.name}: {done} in {password_file}")


if __name__ == "__main__":
    main()
