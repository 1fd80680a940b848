"""The opencxo command line, run as a real process against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opencxo.core.audit import AuditEvent
from opencxo.core.auth import service as auth
from opencxo.core.auth.models import ApiToken, User
from opencxo.core.auth.service import principal_for_token
from opencxo.core.types import utcnow
from tests.factories import PASSWORD, make_organization, make_token, make_user


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
        ["users", "set-password"],
        ["users", "deactivate"],
        ["users", "activate"],
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


def _events(session: Session, *actions: str) -> list[tuple[str, str | None, str, str]]:
    session.expire_all()
    rows = session.execute(
        select(AuditEvent).where(AuditEvent.action.in_(actions)).order_by(AuditEvent.sequence)
    ).scalars()
    return [
        (e.action, str(e.actor_user_id) if e.actor_user_id else None, e.actor_label, e.entity_type)
        for e in rows
    ]


def test_users_create_in_an_organisation_is_audited_as_the_command_line(
    session: Session, database_url: str
) -> None:
    make_organization(session, name="Cli Pharma")
    session.commit()
    created = run(
        database_url,
        "users", "create", "--email", "new@test.example", "--name", "New User",
        "--password", "a-long-password", "--organization", "Cli Pharma", "--role", "qa",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    # Both the user and the membership are the console's doing; before, the membership named
    # the new user as the one who added themselves.
    assert _events(session, "create")[-2:] == [
        ("create", None, "cli", "user"),
        ("create", None, "cli", "membership"),
    ]


def test_users_set_password_ends_sessions_and_lifts_a_lock(
    session: Session, database_url: str
) -> None:
    user = make_user(session, organization_id=None, email="forgot@test.example")
    # Locked out after six failed logins: the operator's new password lifts the lock.
    user.failed_login_count, user.locked_until = 6, utcnow() + timedelta(minutes=15)
    session.commit()
    done = run(
        database_url, "users", "set-password", "--email", "Forgot@test.example",
        "--password", "a-new-long-password",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "password of forgot@test.example changed; their sessions have ended\n"
    # Prompted (twice, hidden) when --password is not given, as `users create` asks.
    prompted = run(
        database_url, "users", "set-password", "--email", "forgot@test.example",
        stdin="prompted-password\nprompted-password\n",
    )  # fmt: skip
    assert prompted.returncode == 0, prompted.stderr
    session.expire_all()
    row = session.get(User, user.id)
    assert row is not None
    assert (row.session_generation, row.failed_login_count, row.locked_until) == (2, 0, None)
    assert auth.authenticate(session, email="forgot@test.example", password=PASSWORD).user is None
    login = auth.authenticate(session, email="forgot@test.example", password="prompted-password")
    assert login.user is not None
    session.rollback()
    assert _events(session, "password_change") == [
        ("password_change", None, "cli", "user"),
        ("password_change", None, "cli", "user"),
    ]
    for args, message in [
        (("--email", "ghost@test.example", "--password", "long-enough-pw"),
         "error: no user with e-mail ghost@test.example"),
        (("--email", "forgot@test.example", "--password", "short"),
         "error: password must have at least 10 characters"),
    ]:  # fmt: skip
        failed = run(database_url, "users", "set-password", *args)
        assert (failed.returncode, failed.stderr.strip()) == (1, message)


def test_users_deactivate_and_activate(session: Session, database_url: str) -> None:
    org = make_organization(session, name="Cli Pharma")
    user = make_user(session, organization_id=org.id, email="leaver@test.example")
    token = make_token(session, user=user)
    session.commit()

    done = run(database_url, "users", "deactivate", "--email", "leaver@test.example")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "leaver@test.example deactivated; their sessions and API tokens no longer work\n"
    )
    session.expire_all()
    assert principal_for_token(session, token) is None
    login = auth.authenticate(session, email="leaver@test.example", password=PASSWORD)
    assert login.error is not None
    assert login.error.message == "this account is deactivated; ask the platform operator"
    session.rollback()
    again = run(database_url, "users", "deactivate", "--email", "leaver@test.example")
    assert (again.returncode, again.stderr) == (
        1,
        "error: leaver@test.example is already deactivated\n",
    )

    done = run(database_url, "users", "activate", "--email", "leaver@test.example")
    assert (done.returncode, done.stdout) == (0, "leaver@test.example reactivated\n")
    session.expire_all()
    assert principal_for_token(session, token) is not None
    row = session.get(User, user.id)
    assert row is not None and (row.is_active, row.session_generation) == (True, 1)
    session.rollback()
    assert _events(session, "deactivate", "activate") == [
        ("deactivate", None, "cli", "user"),
        ("activate", None, "cli", "user"),
    ]
    ghost = run(database_url, "users", "activate", "--email", "ghost@test.example")
    assert (ghost.returncode, ghost.stderr) == (
        1,
        "error: no user with e-mail ghost@test.example\n",
    )


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
