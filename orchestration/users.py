"""Who may log in to `make serve`: the users' file nginx checks (TASKLINE_PASSWORD_FILE), `user:bcrypt-hash`.

    python -m orchestration.users add NAME      # asks for the password twice (or reads one line from stdin)
    python -m orchestration.users remove NAME

Adding a user who exists changes their password. The password is never an argument (it would show in `ps`).
The file is created readable by its owner only; nginx reads it on every request, so changes apply at once.
"""

import argparse
import getpass
import os
import sys
from pathlib import Path

import bcrypt

from orchestration.proxy import PASSWORD_FILE, ProxyError, read_users

# 2^10 bcrypt rounds: about 50 ms for nginx to check a login on this project's 2-core machine
BCRYPT_COST = 10


def password_from_user(name: str) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass(f"password for {name}: ")
    if getpass.getpass("again: ") != password:
        raise ProxyError("the two passwords differ: nothing changed.")
    return password


def write_users(password_file: Path, users: dict[str, str]) -> None:
    """The whole file at once (a reader sees the old file or the new one), readable by its owner only."""
    password_file.parent.mkdir(parents=True, exist_ok=True)
    staged = password_file.with_name(f".{password_file.name}.new")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.writelines(f"{name}:{hashed}\n" for name, hashed in users.items())
    staged.replace(password_file)


def add(password_file: Path, name: str, password: str) -> None:
    if not name or any(character in name for character in ": \t\n"):
        raise ProxyError(f"the user name {name!r} cannot contain ':' or spaces: choose another.")
    if len(password) < 12:
        raise ProxyError("the password is shorter than 12 characters: choose a longer one.")
    users = read_users(password_file) if password_file.exists() else {}
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()
    write_users(password_file, {**users, name: hashed})


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
    parser.add_argument("action", choices=("add", "remove"))
    parser.add_argument("name")
    args = parser.parse_args()
    given = os.environ.get(PASSWORD_FILE)
    try:
        if not given:
            raise ProxyError(f"set {PASSWORD_FILE} to the users' file (e.g. /etc/taskline/users).")
        password_file = Path(given).expanduser().resolve()
        if args.action == "add":
            add(password_file, args.name, password_from_user(args.name))
        else:
            remove(password_file, args.name)
    except ProxyError as error:
        sys.exit(f"taskline users: {error}")
    print(f"{args.name}: {'added or changed' if args.action == 'add' else 'removed'} in {password_file}")


if __name__ == "__main__":
    main()
