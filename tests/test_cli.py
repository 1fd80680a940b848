"""The opencxo command line, run as a real process against the test database."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opencxo.core.auth.models import ApiToken, User
from opencxo.core.auth.service import principal_for_token
from tests.factories import make_organization


def run(
    database_url: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENCXO_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "opencxo.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        check=False,
    )


def test_every_command_has_help(database_url: str) -> None:
    for command in (
        [],
        ["serve"],
        ["db"],
        ["db", "upgrade"],
        ["db", "check"],
        ["demo"],
        ["demo", "load"],
        ["users", "create"],
        ["tokens", "create"],
        ["audit", "verify"],
    ):
        completed = run(database_url, *command, "--help")
        assert completed.returncode == 0, (command, completed.stderr)
        assert "Usage" in completed.stdout


def test_db_upgrade_and_check_agree(database_url: str) -> None:
    assert run(database_url, "db", "upgrade").returncode == 0
    completed = run(database_url, "db", "check")
    assert completed.returncode == 0, completed.stderr
    assert "models and migrations agree" in completed.stdout


def test_users_and_tokens(session: Session, database_url: str) -> None:
    org = make_organization(session, name="Cli Pharma")
    session.commit()
    created = run(
        database_url,
        "users", "create", "--email", "Cli@Test.example", "--name", "Cli User",
        "--password", "a-long-password", "--organization", "Cli Pharma", "--role", "qa",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    token = run(database_url, "tokens", "create", "--user", "cli@test.example", "--name", "ci")
    assert token.returncode == 0, token.stderr
    plain = token.stdout.strip().splitlines()[-1]
    session.expire_all()
    principal = principal_for_token(session, plain)
    assert principal is not None and principal.email == "cli@test.example"
    assert {str(k): v.value for k, v in principal.roles.items()} == {str(org.id): "qa"}
    assert session.execute(select(func.count()).select_from(ApiToken)).scalar_one() == 1


def test_user_errors_are_one_line_and_exit_1(session: Session, database_url: str) -> None:
    cases = [
        ("tokens", "create", "--user", "ghost@test.example"),
        ("users", "create", "--email", "x@test.example", "--name", "X", "--password", "short"),
        ("users", "create", "--email", "x y@test", "--name", "X", "--password", "long-enough-pw"),
        (
            "users", "create", "--email", "y@test.example", "--name", "Y",
            "--password", "long-enough-pw", "--organization", "Nope Inc",
        ),
    ]  # fmt: skip
    for args in cases:
        completed = run(database_url, *args)
        assert completed.returncode == 1, args
        assert completed.stderr.startswith("error: ")
        assert len(completed.stderr.strip().splitlines()) == 1, completed.stderr
        assert "Traceback" not in completed.stderr
    # The failed third command created no user (one transaction per use case).
    assert session.execute(select(func.count()).select_from(User)).scalar_one() == 0


def test_bad_configuration_is_one_clear_line(database_url: str) -> None:
    env = {**os.environ, "OPENCXO_DATABASE_URL": database_url, "OPENCXO_LOG_LEVEL": "chatty"}
    completed = subprocess.run(
        [sys.executable, "-m", "opencxo.cli", "audit", "verify"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert completed.returncode == 1
    assert completed.stderr.strip() == (
        "error: configuration: OPENCXO_LOG_LEVEL: Value error, unknown log level 'chatty'; "
        "use DEBUG, INFO, WARNING or ERROR"
    )


def test_native_output_goes_to_stderr_while_a_solver_runs() -> None:
    """What a native library writes to file descriptor 1 inside the block lands on stderr;
    Python's own stdout before and after stays on stdout."""

    code = (
        "import os\n"
        "from opencxo.cli_progress import native_output_to_stderr\n"
        "print('before')\n"
        "with native_output_to_stderr():\n"
        "    os.write(1, b'solver noise\\n')\n"
        "print('after')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout == "before\nafter\n"
    assert done.stderr == "solver noise\n"
